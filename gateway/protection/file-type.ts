/**
 * True file types by content (magic bytes), not by name: what the content
 * filter matches an attachment against.
 */
export type FileType = 'executable' | 'script' | 'archive' | 'office-macro' | 'pdf' | 'image';

const starts = (b: Buffer, ...bytes: number[]) => bytes.every((x, i) => b[i] === x);

export function detectType(b: Buffer): FileType | undefined {
  if (starts(b, 0x4d, 0x5a)) return 'executable'; // MZ: PE/DOS
  if (starts(b, 0x7f, 0x45, 0x4c, 0x46)) return 'executable'; // ELF
  if (starts(b, 0xfe, 0xed, 0xfa, 0xce) || starts(b, 0xfe, 0xed, 0xfa, 0xcf) || starts(b, 0xce, 0xfa, 0xed, 0xfe) || starts(b, 0xcf, 0xfa, 0xed, 0xfe)) return 'executable'; // Mach-O
  if (starts(b, 0x23, 0x21)) return 'script'; // #!
  if (starts(b, 0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1)) return 'office-macro'; // OLE2 (legacy Office, may carry macros)
  if (starts(b, 0x50, 0x4b, 0x03, 0x04) || starts(b, 0x50, 0x4b, 0x05, 0x06)) return 'archive'; // zip (docm/xlsm: see content-filter)
  if (starts(b, 0x52, 0x61, 0x72, 0x21) || starts(b, 0x37, 0x7a, 0xbc, 0xaf) || starts(b, 0x1f, 0x8b)) return 'archive'; // rar, 7z, gzip
  if (b.length >= 262 && b.toString('latin1', 257, 262) === 'ustar') return 'archive'; // tar
  if (starts(b, 0x25, 0x50, 0x44, 0x46)) return 'pdf';
  if (starts(b, 0x89, 0x50, 0x4e, 0x47) || starts(b, 0xff, 0xd8, 0xff) || starts(b, 0x47, 0x49, 0x46, 0x38)) return 'image';
  return undefined;
}
