/** The tests' chat upstream: the fake backend shipped for the demo (src/gateway/chat-upstream.ts). */
export { startChatUpstream, replyWords, type ChatUpstream } from '../../src/gateway/chat-upstream.js';
