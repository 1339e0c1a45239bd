/**
 * Test helper (not used by the CLI): re-envelopes a dmesg-format case file (`[ ts] text` lines)
 * into every input format Lantern reads, so that each case is checked in each format.
 * The wall clock of kernel time t is BOOT_EPOCH_MS + t (a reboot continues 60 s later).
 */
export const BOOT_EPOCH_MS = Date.UTC(2024, 4, 3, 6, 0, 0);
export const HOST = 'web01';
export const NETCONSOLE_SENDER = '10.1.2.3';

export type CaseFormat =
  | 'dmesg'
  | 'dmesg-raw'
  | 'vmcore-dmesg'
  | 'dmesg-T'
  | 'syslog'
  | 'syslog-ktime'
  | 'syslog-rfc3339'
  | 'syslog-nohost'
  | 'busybox'
  | 'logread'
  | 'collector'
  | 'journal-short'
  | 'journal-short-iso'
  | 'journal-short-precise'
  | 'journal-short-full'
  | 'journal-short-monotonic'
  | 'journal-json'
  | 'netconsole'
  | 'netconsole-extended'
  | 'udplogger'
  | 'serial'
  | 'serial-multihost';

export const CASE_FORMATS: CaseFormat[] = [
  'dmesg',
  'dmesg-raw',
  'vmcore-dmesg',
  'dmesg-T',
  'syslog',
  'syslog-ktime',
  'syslog-rfc3339',
  'syslog-nohost',
  'busybox',
  'logread',
  'collector',
  'journal-short',
  'journal-short-iso',
  'journal-short-precise',
  'journal-short-full',
  'journal-short-monotonic',
  'journal-json',
  'netconsole',
  'netconsole-extended',
  'udplogger',
  'serial',
  'serial-multihost',
];

/** Formats whose lines carry a wall-clock time, and the host they name. */
export const FORMAT_TRAITS: Record<CaseFormat, { wall: boolean; kernelTime: boolean; host?: string }> = {
  dmesg: { wall: false, kernelTime: true },
  'dmesg-raw': { wall: false, kernelTime: false },
  'vmcore-dmesg': { wall: false, kernelTime: true },
  'dmesg-T': { wall: true, kernelTime: false },
  syslog: { wall: true, kernelTime: false, host: HOST },
  'syslog-ktime': { wall: true, kernelTime: true, host: HOST },
  'syslog-rfc3339': { wall: true, kernelTime: false, host: HOST },
  'syslog-nohost': { wall: true, kernelTime: false },
  busybox: { wall: true, kernelTime: false, host: HOST },
  logread: { wall: true, kernelTime: true },
  collector: { wall: true, kernelTime: false },
  'journal-short': { wall: true, kernelTime: false, host: HOST },
  'journal-short-iso': { wall: true, kernelTime: false, host: HOST },
  'journal-short-precise': { wall: true, kernelTime: false, host: HOST },
  'journal-short-full': { wall: true, kernelTime: false, host: HOST },
  'journal-short-monotonic': { wall: false, kernelTime: true, host: HOST },
  'journal-json': { wall: true, kernelTime: true, host: HOST },
  netconsole: { wall: true, kernelTime: true, host: NETCONSOLE_SENDER },
  'netconsole-extended': { wall: true, kernelTime: true, host: NETCONSOLE_SENDER },
  udplogger: { wall: true, kernelTime: true, host: NETCONSOLE_SENDER },
  serial: { wall: false, kernelTime: true },
  'serial-multihost': { wall: false, kernelTime: true, host: HOST },
};

const MON = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAY = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const p2 = (n: number) => String(n).padStart(2, '0');

interface Parsed {
  ts?: string;
  tsNum?: number;
  text: string;
  wallMs?: number;
}

/** Parses case lines and assigns each a wall-clock time (ms). */
export function parseCase(content: string): Parsed[] {
  const out: Parsed[] = [];
  let bootBase = BOOT_EPOCH_MS;
  let prevWall = BOOT_EPOCH_MS;
  let prevTs = -1;
  for (const line of content.split('\n')) {
    if (line === '') continue;
    const m = /^\[\s*(\d+\.\d+)\] ?(.*)$/.exec(line);
    if (!m) {
      out.push({ text: line, wallMs: prevWall });
      continue;
    }
    const t = Number(m[1]);
    if (t < prevTs) bootBase = prevWall + 60000 - t * 1000; // reboot: time goes on
    prevTs = t;
    const wallMs = bootBase + Math.round(t * 1000);
    prevWall = wallMs;
    out.push({ ts: m[1]!, tsNum: t, text: m[2]!, wallMs });
  }
  return out;
}

/** The expected wall time (ms, whole seconds) of a case line's kernel timestamp. */
export function wallOfKernelTime(content: string, ts: string): number | undefined {
  const l = parseCase(content).find((x) => x.ts === ts);
  return l?.wallMs;
}

function syslogStamp(ms: number, zeroPadDay: boolean, frac: boolean): string {
  const d = new Date(ms);
  const day = zeroPadDay ? p2(d.getUTCDate()) : String(d.getUTCDate()).padStart(2, ' ');
  const f = frac ? '.' + String(d.getUTCMilliseconds()).padStart(3, '0') + '000' : '';
  return `${MON[d.getUTCMonth()]} ${day} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}${f}`;
}

function isoLocal(ms: number, offsetMin: number, frac: boolean, colon: boolean): string {
  const d = new Date(ms + offsetMin * 60000);
  const f = frac ? '.' + String(d.getUTCMilliseconds()).padStart(3, '0') + '000' : '';
  const sign = offsetMin >= 0 ? '+' : '-';
  const oh = p2(Math.floor(Math.abs(offsetMin) / 60));
  const om = p2(Math.abs(offsetMin) % 60);
  return `${d.getUTCFullYear()}-${p2(d.getUTCMonth() + 1)}-${p2(d.getUTCDate())}T${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}${f}${sign}${oh}${colon ? ':' : ''}${om}`;
}

/** Renders a case in one format. Noise lines from other programs/hosts are interleaved where a format allows. */
export function renderCase(content: string, format: CaseFormat): string {
  const lines = parseCase(content);
  const out: string[] = [];
  let seq = 100;
  let bootId = 'b0';
  let lastTs = -1;
  lines.forEach((l, i) => {
    const ms = l.wallMs ?? BOOT_EPOCH_MS;
    const withTs = l.ts !== undefined ? `[${l.ts.padStart(12, ' ')}] ${l.text}` : l.text;
    if (l.tsNum !== undefined && l.tsNum < lastTs) bootId = 'b' + i;
    if (l.tsNum !== undefined) lastTs = l.tsNum;
    const d = new Date(ms);
    switch (format) {
      case 'dmesg':
      case 'vmcore-dmesg':
        out.push(withTs);
        break;
      case 'dmesg-raw':
        out.push(l.text);
        break;
      case 'dmesg-T':
        out.push(`[${DAY[d.getUTCDay()]} ${syslogStamp(ms, false, false)} ${d.getUTCFullYear()}] ${l.text}`);
        break;
      case 'syslog':
        out.push(`${syslogStamp(ms, false, false)} ${HOST} kernel: ${l.text}`);
        if (i % 3 === 1) out.push(`${syslogStamp(ms, false, false)} ${HOST} sshd[2211]: Accepted publickey for root from 10.0.0.9 port 52144 ssh2`);
        break;
      case 'syslog-ktime':
        out.push(`${syslogStamp(ms, false, false)} ${HOST} kernel: ${withTs}`);
        if (i % 4 === 2) out.push(`${syslogStamp(ms, false, false)} ${HOST} systemd[1]: Started Session 42 of user root.`);
        break;
      case 'syslog-rfc3339':
        out.push(`<4>${isoLocal(ms, 120, true, true)} ${HOST} kernel: ${l.text}`);
        if (i % 3 === 1) out.push(`<30>${isoLocal(ms, 120, true, true)} ${HOST} CRON[4242]: (root) CMD (run-parts /etc/cron.hourly)`);
        break;
      case 'syslog-nohost':
        // A syslog template without %HOSTNAME% (and ARM boards' syslogd): the tag follows the stamp.
        out.push(`${syslogStamp(ms, false, false)} kernel: ${l.text}`);
        if (i % 3 === 1) out.push(`${syslogStamp(ms, false, false)} dropbear[2211]: Password auth succeeded for 'root' from 10.0.0.9:52144`);
        break;
      case 'busybox':
        // busybox syslogd: the facility.level between host and tag.
        out.push(`${syslogStamp(ms, false, false)} ${HOST} kern.warn kernel: ${l.text}`);
        if (i % 3 === 1) out.push(`${syslogStamp(ms, false, false)} ${HOST} daemon.info dnsmasq[1811]: query[A] example.org from 10.0.0.9`);
        break;
      case 'logread':
        // OpenWrt logread: ctime stamp with year, facility.level, no host, the kernel stamp kept.
        out.push(`${DAY[d.getUTCDay()]} ${syslogStamp(ms, false, false)} ${d.getUTCFullYear()} kern.warn kernel: ${withTs}`);
        if (i % 3 === 1) out.push(`${DAY[d.getUTCDay()]} ${syslogStamp(ms, false, false)} ${d.getUTCFullYear()} daemon.notice netifd: Interface 'wan' is now up`);
        break;
      case 'collector':
        // A container/VM log collector's line: ISO stamp with zone, zone name, facility.level, tag.
        out.push(`${isoLocal(ms, 0, true, false)} UTC kern.warn kernel: ${l.text}`);
        if (i % 3 === 1) out.push(`${isoLocal(ms, 0, true, false)} UTC daemon.info containerd[811]: shim disconnected id=4f2a`);
        break;
      case 'journal-short':
        out.push(`${syslogStamp(ms, true, false)} ${HOST} kernel: ${l.text}`);
        break;
      case 'journal-short-iso':
        out.push(`${isoLocal(ms, 120, false, false)} ${HOST} kernel: ${l.text}`);
        break;
      case 'journal-short-precise':
        out.push(`${syslogStamp(ms, true, true)} ${HOST} kernel: ${l.text}`);
        break;
      case 'journal-short-full':
        out.push(
          `${DAY[d.getUTCDay()]} ${d.getUTCFullYear()}-${p2(d.getUTCMonth() + 1)}-${p2(d.getUTCDate())} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} UTC ${HOST} kernel: ${l.text}`,
        );
        break;
      case 'journal-short-monotonic':
        // journalctl prints the monotonic time of every entry; a line without a kernel stamp has none here.
        if (l.ts !== undefined) out.push(`[${l.ts.padStart(12, ' ')}] ${HOST} kernel: ${l.text}`);
        else out.push(`[${'0.000000'.padStart(12, ' ')}] ${HOST} kernel: ${l.text}`);
        if (i % 4 === 1) out.push(`[${(l.ts ?? '0.000000').padStart(12, ' ')}] ${HOST} sshd[2211]: Connection closed by 10.0.0.9 port 52144`);
        break;
      case 'journal-json': {
        const rec: Record<string, string> = {
          __REALTIME_TIMESTAMP: String(ms * 1000),
          _BOOT_ID: bootId,
          PRIORITY: '4',
          _TRANSPORT: 'kernel',
          SYSLOG_IDENTIFIER: 'kernel',
          _HOSTNAME: HOST,
          MESSAGE: l.text,
        };
        if (l.tsNum !== undefined) rec['_SOURCE_MONOTONIC_TIMESTAMP'] = String(Math.round(l.tsNum * 1e6));
        out.push(JSON.stringify(rec));
        if (i % 5 === 2)
          out.push(
            JSON.stringify({
              __REALTIME_TIMESTAMP: String(ms * 1000),
              _BOOT_ID: bootId,
              _TRANSPORT: 'journal',
              SYSLOG_IDENTIFIER: 'sshd',
              _HOSTNAME: HOST,
              MESSAGE: 'Connection closed by 10.0.0.9 port 52144',
            }),
          );
        break;
      }
      case 'netconsole':
        out.push(`${new Date(ms).toISOString()} ${NETCONSOLE_SENDER}:6666 ${withTs}`);
        break;
      case 'netconsole-extended': {
        const usec = l.tsNum !== undefined ? Math.round(l.tsNum * 1e6) : 0;
        out.push(`${new Date(ms).toISOString()} ${NETCONSOLE_SENDER}:6666 4,${seq++},${usec},-;${l.text}`);
        break;
      }
      case 'udplogger':
        out.push(`${d.getUTCFullYear()}-${p2(d.getUTCMonth() + 1)}-${p2(d.getUTCDate())} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} ${NETCONSOLE_SENDER}:6666 ${withTs}`);
        break;
      case 'serial': {
        // CR/LF line ends, colour escapes, a getty prompt glued in front of a kernel line.
        let s = withTs;
        if (i === 1) s = `${HOST} login: ${s}`;
        if (i % 4 === 0) s = `\x1b[0;33m${s}\x1b[0m`;
        out.push(s + '\r');
        break;
      }
      case 'serial-multihost':
        out.push(`${HOST}: ${withTs}`);
        if (i % 2 === 0) out.push(`db02: [${((l.tsNum ?? 0) + 0.5).toFixed(6).padStart(12, ' ')}] e1000e 0000:00:19.0 eth0: NIC Link is Up 1000 Mbps Full Duplex`);
        break;
    }
  });
  return out.join('\n') + '\n';
}
