/**
 * Mail is private: every directory the gateway keeps messages in is 0700
 * and every file 0600, whatever the umask. Directories that an older
 * version created with wider modes are narrowed when they are opened.
 */
import { chmod, mkdir } from 'node:fs/promises';

export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/** Creates `dir` (and missing parents) as 0700 and narrows it to 0700 if it already existed. */
export async function privateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  await chmod(dir, PRIVATE_DIR_MODE);
}
