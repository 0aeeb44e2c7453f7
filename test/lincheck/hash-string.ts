// A fast 32-bit string hash (FNV-1a) for model states in the checker's memo table.

/** FNV-1a over the UTF-16 code units of `text`; collisions only cost time, never a verdict. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
