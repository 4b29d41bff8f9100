// SMS segment counting as carriers do it: GSM-7 (extension characters count twice) in 160 /
// 153-character segments, or UCS-2 in 70 / 67 code units when any character is outside GSM-7.

const GSM_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM_EXTENSION = '^{}\\[~]|€\f';

export interface SegmentCount {
  encoding: 'GSM-7' | 'UCS-2';
  /** Characters (GSM-7 units or UTF-16 code units) used. */
  units: number;
  segments: number;
  /** Units left in the last segment. */
  remaining: number;
}

export function countSegments(text: string): SegmentCount {
  let units = 0;
  let gsm = true;
  for (const ch of text) {
    if (GSM_BASIC.includes(ch)) units += 1;
    else if (GSM_EXTENSION.includes(ch)) units += 2;
    else {
      gsm = false;
      break;
    }
  }
  if (gsm) return shape('GSM-7', units, 160, 153);
  return shape('UCS-2', text.length, 70, 67);
}

function shape(encoding: SegmentCount['encoding'], units: number, single: number, multi: number): SegmentCount {
  if (units === 0) return { encoding, units, segments: 0, remaining: single };
  if (units <= single) return { encoding, units, segments: 1, remaining: single - units };
  const segments = Math.ceil(units / multi);
  return { encoding, units, segments, remaining: segments * multi - units };
}
