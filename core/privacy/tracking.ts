import { isIP } from 'node:net';

/**
 * What usage tracking may keep of a request (CN2, CN3, CN5): nothing when the browser says
 * `DNT: 1` or `Sec-GPC: 1`; otherwise a truncated IP and a coarse browser and device class,
 * never the full address or User-Agent string.
 */

type Headers = Record<string, string | string[] | undefined>;

const header = (h: Headers, name: string) => {
  const v = h[name];
  return (Array.isArray(v) ? v[0] : v)?.trim();
};

/** The browser's opt-out signal, if any: Global Privacy Control first, then Do Not Track. */
export function optOutSignal(req: { headers: Headers }): 'gpc' | 'dnt' | null {
  if (header(req.headers, 'sec-gpc') === '1') return 'gpc';
  if (header(req.headers, 'dnt') === '1') return 'dnt';
  return null;
}

/** Server-side check every tracking path calls before it records anything (CN3). */
export function trackingAllowed(req: { headers: Headers }): boolean {
  return optOutSignal(req) === null;
}

/** Eight 16-bit groups of an IPv6 address (with an embedded IPv4 tail if any), or null. */
function ipv6Groups(ip: string): number[] | null {
  let s = ip.split('%')[0];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const o = v4[1].split('.').map(Number);
    s = `${s.slice(0, -v4[1].length)}${((o[0] << 8) | o[1]).toString(16)}:${((o[2] << 8) | o[3]).toString(16)}`;
  }
  const [head, tail] = s.split('::');
  const parse = (part: string | undefined) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const a = parse(head);
  const b = parse(tail);
  const groups = s.includes('::') ? [...a, ...new Array(8 - a.length - b.length).fill(0), ...b] : a;
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : null;
}

/**
 * IPv4 keeps its first three octets (a.b.c.0); IPv6 keeps its /48 network ("2001:db8:1::").
 * An IPv4-mapped IPv6 address is treated as the IPv4 address it carries. Anything else: null.
 */
export function truncateIp(ip: string | undefined): string | null {
  if (!ip) return null;
  if (isIP(ip) === 4) return `${ip.split('.').slice(0, 3).join('.')}.0`;
  if (isIP(ip.split('%')[0]) !== 6) return null;
  const g = ipv6Groups(ip);
  if (!g) return null;
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return `${g[6] >> 8}.${g[6] & 0xff}.${g[7] >> 8}.0`;
  const net = g.slice(0, 3);
  while (net.length && net[net.length - 1] === 0) net.pop();
  return `${net.map((x) => x.toString(16)).join(':')}::`;
}

const BROWSERS: [RegExp, string][] = [
  [/bot|crawl|spider|slurp|headless/i, 'bot'],
  [/Edg(e|A|iOS)?\//, 'Edge'],
  [/OPR\/|Opera/, 'Opera'],
  [/SamsungBrowser\//, 'Samsung Internet'],
  [/Firefox\/|FxiOS\//, 'Firefox'],
  [/Chrome\/|CriOS\/|Chromium\//, 'Chrome'],
  [/Version\/[\d.]+.*Safari\//, 'Safari'],
  [/MSIE |Trident\//, 'Internet Explorer'],
];

/** A browser family and a device class from the User-Agent; the string itself is not kept. */
export function coarseUserAgent(ua: string | undefined): { browser: string | null; device: string | null } {
  if (!ua) return { browser: null, device: null };
  const browser = BROWSERS.find(([re]) => re.test(ua))?.[1] ?? 'other';
  const device =
    browser === 'bot'
      ? 'bot'
      : /iPad|Tablet|Android(?!.*Mobile)/i.test(ua)
        ? 'tablet'
        : /Mobi|iPhone|iPod|Android/i.test(ua)
          ? 'mobile'
          : 'desktop';
  return { browser, device };
}

/** The essential cookie that identifies a browser for its cookie choices (CN2). */
export const VISITOR_COOKIE = 'rasmi_vid';
const VISITOR_ID = /^vis_[0-9a-z]{26}$/;

export function visitorIdFromCookie(cookieHeader: string | undefined): string | null {
  for (const part of (cookieHeader ?? '').split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === VISITOR_COOKIE) {
      const value = rest.join('=');
      return VISITOR_ID.test(value) ? value : null;
    }
  }
  return null;
}
