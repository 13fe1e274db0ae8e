/**
 * Reads a SillyTavern character card from a file: a V2 JSON file, or a PNG card, whose JSON is kept
 * base64-encoded in a `tEXt` chunk named `chara` (V2) or `ccv3` (V3).
 */

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export class CardError extends Error {
  override name = 'CardError';
}

export function parseCardBytes(bytes: Uint8Array): unknown {
  if (PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return JSON.parse(pngCardText(bytes));
  const text = new TextDecoder('utf-8').decode(bytes).replace(/^\uFEFF/, '');
  try {
    return JSON.parse(text);
  } catch {
    throw new CardError('not JSON');
  }
}

function pngCardText(bytes: Uint8Array): string {
  const ascii = new TextDecoder('latin1');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const found: Record<string, string> = {};
  let at = PNG_SIGNATURE.length;
  while (at + 8 <= bytes.length) {
    const length = view.getUint32(at);
    const type = ascii.decode(bytes.subarray(at + 4, at + 8));
    const data = bytes.subarray(at + 8, at + 8 + length);
    if (type === 'tEXt') {
      const zero = data.indexOf(0);
      if (zero > 0) {
        // tEXt is Latin-1; the card payload is base64, so plain ASCII.
        found[ascii.decode(data.subarray(0, zero))] = ascii.decode(data.subarray(zero + 1));
      }
    }
    if (type === 'IEND') break;
    at += 12 + length;
  }
  const b64 = found.chara ?? found.ccv3;
  if (!b64) throw new CardError('no character data in this PNG');
  const binary = atob(b64.trim());
  return new TextDecoder('utf-8').decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
}
