/**
 * Review s7, pure functions of the PostgreSQL backend: `?` placeholders are
 * rewritten outside literals, quoted identifiers, dollar-quoted bodies and
 * comments only; session-ending SQLSTATEs (idle timeouts) are connection
 * losses; disk errors are ERR_STORAGE_IO; a pool used after end() is
 * ERR_STORAGE_CLOSED.
 */
import { describe, expect, it } from 'vitest';

import { classifyPostgresError, toPostgresPlaceholders } from '../../src/storage/postgres.js';

describe('review s7: toPostgresPlaceholders', () => {
  it('rewrites every ? outside opaque text, numbering them in order', () => {
    expect(toPostgresPlaceholders('SELECT * FROM t WHERE a = ? AND b IN (?, ?)')).toBe('SELECT * FROM t WHERE a = $1 AND b IN ($2, $3)');
  });

  it('leaves ? alone in literals, E-strings with escaped quotes, and quoted identifiers', () => {
    expect(toPostgresPlaceholders("SELECT 'a?b', 'it''s ?', ? FROM t")).toBe("SELECT 'a?b', 'it''s ?', $1 FROM t");
    expect(toPostgresPlaceholders("SELECT E'it\\'s ?', ?")).toBe("SELECT E'it\\'s ?', $1");
    expect(toPostgresPlaceholders('SELECT "odd?name" FROM t WHERE x = ?')).toBe('SELECT "odd?name" FROM t WHERE x = $1');
    // A backslash in a standard string is an ordinary character: the literal ends at the next quote.
    expect(toPostgresPlaceholders("SELECT 'C:\\', ?")).toBe("SELECT 'C:\\', $1");
  });

  it('leaves ? alone in -- and block comments (nested ones too)', () => {
    expect(toPostgresPlaceholders('SELECT ? -- why? because\nFROM t WHERE a = ?')).toBe('SELECT $1 -- why? because\nFROM t WHERE a = $2');
    expect(toPostgresPlaceholders('SELECT /* a? /* b? */ c? */ ?')).toBe('SELECT /* a? /* b? */ c? */ $1');
    expect(toPostgresPlaceholders('SELECT ? - -1')).toBe('SELECT $1 - -1');
    expect(toPostgresPlaceholders('SELECT ? / 2')).toBe('SELECT $1 / 2');
  });

  it('leaves ? alone in $$ and $tag$ bodies, but not after a $ inside an identifier or a numbered parameter', () => {
    const fn = "CREATE FUNCTION f() RETURNS text AS $$ SELECT 'x?' || ? $$ LANGUAGE sql";
    expect(toPostgresPlaceholders(fn)).toBe(fn);
    expect(toPostgresPlaceholders('SELECT $body$ ? $$ ? $body$, ?')).toBe('SELECT $body$ ? $$ ? $body$, $1');
    expect(toPostgresPlaceholders('SELECT a$b$c, ?, $1x')).toBe('SELECT a$b$c, $1, $1x');
  });

  it('jsonb ? operators are placeholders too (the documented rule: write jsonb_exists instead)', () => {
    expect(toPostgresPlaceholders("SELECT doc ? 'k'")).toBe("SELECT doc $1 'k'");
    expect(toPostgresPlaceholders('SELECT jsonb_exists(doc, ?)')).toBe('SELECT jsonb_exists(doc, $1)');
  });

  it('an unterminated literal or comment swallows the rest (the server then reports the syntax error)', () => {
    expect(toPostgresPlaceholders("SELECT 'open ?")).toBe("SELECT 'open ?");
    expect(toPostgresPlaceholders('SELECT /* open ?')).toBe('SELECT /* open ?');
  });
});

describe('review s7: classifyPostgresError', () => {
  const pgError = (code: string, message = 'server says no'): Error => Object.assign(new Error(message), { code });

  it('sessions ended by the idle-in-transaction or idle-session timeout are connection losses (retryable)', () => {
    for (const code of ['25P03', '57P05', '57P01']) {
      const e = classifyPostgresError(pgError(code, 'terminating connection'), false);
      expect([code, e.code, e.retryable]).toEqual([code, 'ERR_STORAGE_UNAVAILABLE', true]);
    }
  });

  it('a full disk and an I/O error on the server are ERR_STORAGE_IO', () => {
    expect(classifyPostgresError(pgError('53100'), false)).toMatchObject({ code: 'ERR_STORAGE_IO', dbCode: '53100', retryable: false });
    expect(classifyPostgresError(pgError('53100'), false).message).toMatch(/disk is full/);
    expect(classifyPostgresError(pgError('58030'), false)).toMatchObject({ code: 'ERR_STORAGE_IO', dbCode: '58030' });
  });

  it('42501 says a privilege is missing; 28P01 says authentication failed', () => {
    expect(classifyPostgresError(pgError('42501', 'permission denied for table x'), false).message).toMatch(/lacks a privilege/);
    expect(classifyPostgresError(pgError('28P01'), true).message).toMatch(/authentication failed/);
  });

  it("node-postgres's error for a pool used after end() is ERR_STORAGE_CLOSED", () => {
    expect(classifyPostgresError(new Error('Cannot use a pool after calling end on the pool'), false).code).toBe('ERR_STORAGE_CLOSED');
  });
});
