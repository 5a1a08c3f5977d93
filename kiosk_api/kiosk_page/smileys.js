// The faces on the rating buttons, drawn as inline SVG: emoji fonts are missing on
// many tablets and in headless Chromium, and a drawing looks the same everywhere.

const SVG_NS = 'http://www.w3.org/2000/svg';
const FEATURES = '#1d1712'; // eyes and mouth: near-black reads on every face colour

// Colour stops from the most negative (0) to the most positive (1) end of a scale;
// a level takes the colour at its place on that line, so 2..5 levels all span red to green.
const STOPS = [
  [0, [0xd6, 0x2e, 0x25]], // deep red
  [1 / 3, [0xf0, 0x86, 0x22]], // orange
  [1 / 2, [0xf2, 0xc2, 0x2e]], // yellow
  [2 / 3, [0xa9, 0xc9, 0x3b]], // yellow-green
  [1, [0x2f, 0xa3, 0x4e]], // green
];

/** Where a level sits on its scale: 0 for rating 1, 1 for rating `scale`. */
function position(rating, scale) {
  return scale > 1 ? (rating - 1) / (scale - 1) : 1;
}

/** The fill colour of a level, as "#rrggbb". */
export function levelColour(rating, scale) {
  const t = position(rating, scale);
  let i = 0;
  while (i < STOPS.length - 2 && t > STOPS[i + 1][0]) i += 1;
  const [t0, c0] = STOPS[i];
  const [t1, c1] = STOPS[i + 1];
  const f = t1 > t0 ? Math.min(1, Math.max(0, (t - t0) / (t1 - t0))) : 0;
  return `#${c0.map((v, k) => Math.round(v + (c1[k] - v) * f).toString(16).padStart(2, '0')).join('')}`;
}

function el(name, attrs) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

const stroke = { fill: 'none', stroke: FEATURES, 'stroke-width': 6, 'stroke-linecap': 'round' };

/**
 * A face for `rating` of `scale` (viewBox 100×100). Its mood runs from a deep frown
 * with worried brows (1) to a wide open smile with laughing eyes (scale); the levels
 * between curve the mouth in even steps, so neighbours never look alike.
 */
export function smiley(rating, scale) {
  const t = position(rating, scale);
  const mood = 2 * t - 1; // -1 .. 1
  const svg = el('svg', { viewBox: '0 0 100 100', class: 'face', 'aria-hidden': 'true', focusable: 'false' });
  svg.append(el('circle', { cx: 50, cy: 50, r: 47, fill: levelColour(rating, scale) }));

  if (mood >= 0.99) {
    // Laughing eyes: two arcs.
    svg.append(el('path', { d: 'M27 42 Q35 31 43 42 M57 42 Q65 31 73 42', ...stroke }));
  } else {
    svg.append(el('ellipse', { cx: 35, cy: 39, rx: 5.5, ry: 7.5, fill: FEATURES }));
    svg.append(el('ellipse', { cx: 65, cy: 39, rx: 5.5, ry: 7.5, fill: FEATURES }));
  }
  if (mood <= -0.99) {
    // Worried brows: inner ends raised.
    svg.append(el('path', { d: 'M24 29 L41 22 M76 29 L59 22', ...stroke, 'stroke-width': 5 }));
  }

  // The mouth: a quadratic curve whose bend follows the mood; its middle stays near y=68.
  const half = 15 + 4 * Math.abs(mood);
  const y = 68 - 6 * mood;
  const bend = y + 22 * mood;
  const d = `M${50 - half} ${y} Q50 ${bend} ${50 + half} ${y}`;
  if (mood >= 0.99) {
    svg.append(el('path', { d: `${d} Z`, fill: FEATURES, stroke: FEATURES, 'stroke-width': 4, 'stroke-linejoin': 'round' }));
  } else {
    svg.append(el('path', { d, ...stroke }));
  }
  return svg;
}
