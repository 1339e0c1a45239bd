/**
 * Exact remedy commands, per distro family. Every command is a fixed string built from
 * constants chosen by the check (never from file, log or process content), and is
 * idempotent: running it twice leaves the host as running it once.
 */
import type { Remedy } from './model.js';
import type { Distro } from '../host/facts.js';

/** Persist a sysctl in /etc/sysctl.conf (applied last, also on RHEL 6) and apply it now. */
export function sysctlRemedy(key: string, value: string, text: string, safe = true): Remedy {
  if (!/^[a-z0-9_.]+$/.test(key) || !/^-?[0-9]+$/.test(value)) throw new Error(`bad sysctl remedy ${key}=${value}`);
  const re = key.replace(/\./g, '[./]');
  const line = `${key} = ${value}`;
  return {
    kind: 'sysctl',
    text,
    commands: [
      `grep -qxF '${line}' /etc/sysctl.conf || { sed -i -E '/^[[:space:]]*-?${re}[[:space:]]*=/s/^/#lantern# /' /etc/sysctl.conf; echo '${line}' >> /etc/sysctl.conf; }`,
      `sysctl -q -w ${key}=${value}`,
    ],
    safe,
  };
}

export function pkgInstall(d: Distro, rhelPkg: string, debPkg: string): string {
  if (d.family === 'debian') return `apt-get install -y ${debPkg}`;
  if (d.family === 'rhel') return `yum install -y ${rhelPkg}`;
  return `# install the ${rhelPkg} (RHEL) / ${debPkg} (Debian) package with your package manager`;
}

/**
 * Enable and start a service at once; a masked unit is unmasked first (enable refuses it
 * otherwise). Where PID 1 is not systemd (RHEL 6, a Debian booted with sysvinit) the SysV tools
 * do it: chkconfig on the RHEL family, update-rc.d on Debian. An unknown init on RHEL 6 is SysV.
 */
export function serviceEnable(d: Distro, unit: string, masked = false): string {
  const name = unit.replace(/\.(service|timer)$/, '');
  const sysv = d.init === 'sysv' || (d.init === null && d.family === 'rhel' && d.rhelMajor !== null && d.rhelMajor <= 6);
  if (sysv) {
    if (d.family === 'debian') return `update-rc.d ${name} defaults && update-rc.d ${name} enable && service ${name} start`;
    if (d.family === 'rhel') return `chkconfig ${name} on && service ${name} start`;
    return `# enable ${name} in your init system's runlevels and start it (PID 1 is not systemd)`;
  }
  return masked ? `systemctl unmask ${unit} && systemctl enable --now ${unit}` : `systemctl enable --now ${unit}`;
}

/** Restart a running service (after a configuration change), by the host's init system. */
export function serviceRestart(d: Distro, unit: string): string {
  const name = unit.replace(/\.(service|timer)$/, '');
  return d.init === 'sysv' || (d.init === null && d.family === 'rhel' && d.rhelMajor !== null && d.rhelMajor <= 6) ? `service ${name} restart` : `systemctl restart ${unit}`;
}

/** Add kernel parameters for every installed kernel (applies at next boot). */
export function cmdlineAdd(d: Distro, args: string, key: string): string[] {
  if (d.family === 'rhel') return [`grubby --update-kernel=ALL --args="${args}"`];
  if (d.family === 'debian')
    return [`grep -qE '^GRUB_CMDLINE_LINUX(_DEFAULT)?=.*\\b${key}=' /etc/default/grub || sed -i -E 's/^GRUB_CMDLINE_LINUX_DEFAULT="/&${args} /' /etc/default/grub`, 'update-grub'];
  return [`# add ${args} to the kernel command line in your boot loader configuration`];
}

/**
 * Set `key=value` on the kernel command line of every installed kernel, replacing any value
 * already configured (applies at next boot). On Debian, crashkernel= lives in kdump-tools' own
 * grub snippet when that exists (it is appended last, so it would win over /etc/default/grub).
 */
export function cmdlineSet(d: Distro, key: string, value: string): string[] {
  if (!/^[a-z_.]+$/.test(key) || !/^[\w.,:@-]+$/.test(value)) throw new Error(`bad kernel parameter ${key}=${value}`);
  if (d.family === 'rhel') return [`grubby --update-kernel=ALL --args="${key}=${value}"`];
  if (d.family === 'debian') {
    const k = key.replace(/\./g, '\\.');
    const inGrub = `if grep -qE '^GRUB_CMDLINE_LINUX(_DEFAULT)?=.*\\b${k}=' /etc/default/grub; then sed -i -E '/^GRUB_CMDLINE_LINUX(_DEFAULT)?=/s/\\b${k}=[^" ]*/${key}=${value}/' /etc/default/grub; else sed -i -E 's/^GRUB_CMDLINE_LINUX_DEFAULT="/&${key}=${value} /' /etc/default/grub; fi`;
    if (key === 'crashkernel')
      return [`if [ -f /etc/default/grub.d/kdump-tools.cfg ]; then sed -i -E 's/\\bcrashkernel=[^" ]*/crashkernel=${value}/' /etc/default/grub.d/kdump-tools.cfg; else ${inGrub}; fi`, 'update-grub'];
    return [inGrub, 'update-grub'];
  }
  return [`# set ${key}=${value} on the kernel command line in your boot loader configuration`];
}

/** Remove kernel parameters (flags) for every installed kernel (applies at next boot). */
export function cmdlineRemove(d: Distro, flags: string[]): string[] {
  if (d.family === 'rhel') return [`grubby --update-kernel=ALL --remove-args="${flags.join(' ')}"`];
  if (d.family === 'debian') return [`sed -i -E '/^GRUB_CMDLINE_LINUX(_DEFAULT)?=/{${flags.map((f) => `s/(["[:space:]])${f}([[:space:]"])/\\1\\2/g`).join(';')}}' /etc/default/grub`, 'update-grub'];
  return [`# remove ${flags.join(' ')} from the kernel command line in your boot loader configuration`];
}
