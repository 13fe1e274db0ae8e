/** Self-made SVG charts (no dependencies, no browser): grouped bars and line plots. */

const COLORS = ['#2563eb', '#f59e0b', '#10b981', '#ef4444', '#8b5cf6', '#64748b'];
const FONT = 'font-family="system-ui, sans-serif"';

const esc = (s: string) => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

const label = (v: number) => {
  const a = Math.abs(v);
  if (a >= 1000) return `${Math.round(v / 100) / 10}k`;
  if (a >= 100) return String(Math.round(v));
  if (a >= 10) return String(Math.round(v * 10) / 10);
  return String(Math.round(v * 100) / 100);
};

interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

interface Tick {
  v: number;
  y: number;
}

const plotHeight = (f: Frame) => f.height - f.top - f.bottom;

const linearTicks = (f: Frame, yMax: number): Tick[] =>
  [0, 1, 2, 3, 4, 5].map((i) => ({ v: (yMax * i) / 5, y: f.top + plotHeight(f) - (plotHeight(f) * i) / 5 }));

/** Title, horizontal grid lines with their values, the y axis label and the legend. */
function frame(f: Frame, title: string, ticks: Tick[], yLabel: string, series: string[]): string[] {
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${f.width}" height="${f.height}" viewBox="0 0 ${f.width} ${f.height}" ${FONT} font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${f.width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="600">${esc(title)}</text>`,
  ];
  for (const { v, y } of ticks) {
    out.push(
      `<line x1="${f.left}" x2="${f.width - f.right}" y1="${y}" y2="${y}" stroke="#e5e7eb"/>`,
      `<text x="${f.left - 6}" y="${y + 4}" text-anchor="end" fill="#374151">${label(v)}</text>`,
    );
  }
  out.push(
    `<text transform="translate(14 ${f.top + plotHeight(f) / 2}) rotate(-90)" text-anchor="middle" fill="#374151">${esc(yLabel)}</text>`,
  );
  let x = f.left;
  series.forEach((name, i) => {
    out.push(
      `<rect x="${x}" y="${f.height - 22}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>`,
      `<text x="${x + 17}" y="${f.height - 12}">${esc(name)}</text>`,
    );
    // About 7 px per character at 12 px: the next entry starts after this one's text.
    x += 17 + name.length * 7 + 20;
  });
  return out;
}

export interface BarSeries {
  name: string;
  values: (number | null)[];
}

/** Grouped bars: one group per category, one bar per series, the value written above each bar. */
export function barChart(o: {
  title: string;
  categories: string[];
  series: BarSeries[];
  yLabel: string;
}): string {
  const f: Frame = { width: 760, height: 380, left: 64, right: 20, top: 40, bottom: 64 };
  const all = o.series.flatMap((s) => s.values.filter((v): v is number => v !== null && Number.isFinite(v)));
  const yMax = niceMax(Math.max(...all, 0) * 1.1);
  const out = frame(
    f,
    o.title,
    linearTicks(f, yMax),
    o.yLabel,
    o.series.map((s) => s.name),
  );
  const plotW = f.width - f.left - f.right;
  const plotH = plotHeight(f);
  const groupW = plotW / o.categories.length;
  const barW = Math.min(48, (groupW * 0.8) / o.series.length);
  o.categories.forEach((cat, ci) => {
    const gx = f.left + ci * groupW + (groupW - barW * o.series.length) / 2;
    o.series.forEach((s, si) => {
      const v = s.values[ci];
      if (v === null || v === undefined || !Number.isFinite(v)) return;
      const h = (plotH * Math.max(0, v)) / yMax;
      const x = gx + si * barW;
      const y = f.top + plotH - h;
      out.push(
        `<rect x="${x}" y="${y}" width="${barW - 2}" height="${h}" fill="${COLORS[si % COLORS.length]}"/>`,
        `<text x="${x + (barW - 2) / 2}" y="${y - 3}" text-anchor="middle" font-size="10">${label(v)}</text>`,
      );
    });
    out.push(
      `<text x="${f.left + ci * groupW + groupW / 2}" y="${f.top + plotH + 16}" text-anchor="middle">${esc(cat)}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n');
}

export interface LineSeries {
  name: string;
  points: [number, number][];
}

/** Lines with markers over a linear or log2 x axis and a linear or log10 y axis. */
export function lineChart(o: {
  title: string;
  series: LineSeries[];
  xLabel: string;
  yLabel: string;
  logX?: boolean;
  /** For series orders of magnitude apart. */
  logY?: boolean;
}): string {
  const f: Frame = { width: 760, height: 380, left: 64, right: 24, top: 40, bottom: 72 };
  const plotW = f.width - f.left - f.right;
  const plotH = plotHeight(f);
  const xs = o.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = o.series.flatMap((s) => s.points.map((p) => p[1])).filter(Number.isFinite);
  const tx = (x: number) => (o.logX ? Math.log2(Math.max(x, 1e-9)) : x);
  const xMin = Math.min(...xs.map(tx));
  const xMax = Math.max(...xs.map(tx));
  const px = (x: number) => f.left + (xMax === xMin ? plotW / 2 : ((tx(x) - xMin) / (xMax - xMin)) * plotW);
  let py: (y: number) => number;
  let ticks: Tick[];
  if (o.logY) {
    const lo = Math.floor(Math.log10(Math.max(Math.min(...ys.filter((y) => y > 0)), 1e-9)));
    const decades = Math.max(1, Math.ceil(Math.log10(Math.max(...ys, 1e-9))) - lo);
    py = (y) => f.top + plotH - (plotH * (Math.log10(Math.max(y, 10 ** lo)) - lo)) / decades;
    ticks = Array.from({ length: decades + 1 }, (_, i) => ({ v: 10 ** (lo + i), y: py(10 ** (lo + i)) }));
  } else {
    const yMax = niceMax(Math.max(...ys, 0) * 1.08);
    py = (y) => f.top + plotH - (plotH * y) / yMax;
    ticks = linearTicks(f, yMax);
  }
  const out = frame(
    f,
    o.title,
    ticks,
    o.yLabel,
    o.series.map((s) => s.name),
  );
  const xTicks = o.logX
    ? [...new Set(xs)].sort((a, b) => a - b)
    : niceTicks(Math.min(...xs), Math.max(...xs));
  for (const t of xTicks) {
    out.push(
      `<line x1="${px(t)}" x2="${px(t)}" y1="${f.top}" y2="${f.top + plotH}" stroke="#f3f4f6"/>`,
      `<text x="${px(t)}" y="${f.top + plotH + 16}" text-anchor="middle" fill="#374151">${label(t)}</text>`,
    );
  }
  out.push(
    `<text x="${f.left + plotW / 2}" y="${f.top + plotH + 34}" text-anchor="middle" fill="#374151">${esc(o.xLabel)}</text>`,
  );
  o.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = s.points.filter((p) => Number.isFinite(p[1]));
    if (pts.length === 0) return;
    out.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map((p) => `${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ')}"/>`,
    );
    if (pts.length <= 40) {
      for (const p of pts) {
        out.push(
          `<circle cx="${px(p[0]).toFixed(1)}" cy="${py(p[1]).toFixed(1)}" r="3" fill="${color}"/>`,
          `<text x="${px(p[0]).toFixed(1)}" y="${(py(p[1]) - 7).toFixed(1)}" text-anchor="middle" font-size="10" fill="${color}">${label(p[1])}</text>`,
        );
      }
    }
  });
  out.push('</svg>');
  return out.join('\n');
}

function niceTicks(min: number, max: number): number[] {
  const span = max - min || 1;
  const step = niceMax(span / 6);
  const out: number[] = [];
  for (let t = Math.ceil(min / step) * step; t <= max + 1e-9; t += step)
    out.push(Math.round(t * 1000) / 1000);
  return out;
}
