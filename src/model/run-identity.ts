/**
 * Whose pids the names of a run's temporary paths refer to (staging directories, asides, a
 * single-file decryption's `.part`): the next run removes a dead run's leftovers only when the
 * name says it was this host and this pid namespace, and no process has that pid any more.
 */
import { readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

/** Whose pids a staging directory's name refers to: a pid means something only in the pid namespace of the kernel that gave it. */
export interface StagingIdentity {
  /** The host name, reduced to letters, digits and "-" (at most 64): several hosts may share the file system. */
  host: string;
  /**
   * The pid namespace: the inode number of /proc/self/ns/pid on Linux ("pid:[4026531836]" gives
   * "4026531836"), which differs between containers of one host that share its host name
   * (hostNetwork, --uts=host); "none" where the platform has no pid namespaces; "unknown" on Linux
   * when /proc cannot be read, and then no pid can be trusted and nothing is swept.
   */
  pidNamespace: string;
}

/** This process's StagingIdentity (the readers are injectable for tests). */
export function stagingIdentity(readLink: (path: string) => string = readlinkSync, platform: NodeJS.Platform = process.platform, host: string = hostname()): StagingIdentity {
  let pidNamespace = 'none';
  if (platform === 'linux') {
    let link = '';
    try {
      link = readLink('/proc/self/ns/pid');
    } catch {
      // no /proc (not mounted in this container): the namespace stays unknown
    }
    pidNamespace = /^pid:\[(\d+)\]$/.exec(link)?.[1] ?? 'unknown';
  }
  return { host: host.replace(/[^A-Za-z0-9-]/g, '_').slice(0, 64), pidNamespace };
}

/**
 * Whether a process with this pid may exist here: only ESRCH proves that none does. EPERM (another
 * user's) and any other error (EACCES: a signal check denied by SELinux or AppArmor) count as alive,
 * so a sweep never removes a live process's paths (s16 change review of the providers fixes, #3).
 */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
