// The network rules every layer shares (engine/contract/rules.ts) and the CLI's --port syntax.

import { cidrProblem, cidrsOverlap, parseCidr, portsProblem } from '../../engine/contract/rules';
import { parsePortOption } from '../../engine/cli/commands';
import { attachmentMac, hostKey, routerNames } from '../../engine/net/plumbing';

test('a network range is a private IPv4 CIDR from /16 to /29 with its host bits zero, clear of the guest link', () => {
  expect(cidrProblem('10.20.0.0/24')).toBeUndefined();
  expect(cidrProblem('192.168.7.0/29')).toBeUndefined();
  expect(cidrProblem('172.16.0.0/16')).toBeUndefined();
  expect(cidrProblem('10.20.0.1/24')).toBe('expected the network\'s own address (host bits zero): 10.20.0.0/24, got "10.20.0.1/24"');
  expect(cidrProblem('10.20.0.0/8')).toBe('expected a prefix from /16 to /29, got "10.20.0.0/8"');
  expect(cidrProblem('10.20.0.0/30')).toMatch(/prefix from \/16 to \/29/);
  expect(cidrProblem('8.8.8.0/24')).toMatch(/^expected a private range/);
  expect(cidrProblem('100.64.0.0/24')).toBe('"100.64.0.0/24" overlaps 100.64.0.0/29, the link between every guest and its instance\'s router');
  expect(cidrProblem('10.0.0.256/24')).toMatch(/^expected an IPv4 network in CIDR notation/);
  expect(cidrProblem('10.0.0.0')).toMatch(/^expected an IPv4 network/);
  expect(cidrProblem(42)).toMatch(/got 42$/);
});

test('overlap is any shared address', () => {
  const o = (a: string, b: string) => cidrsOverlap(parseCidr(a), parseCidr(b));
  expect(o('10.0.0.0/24', '10.0.0.128/25')).toBe(true);
  expect(o('10.0.0.0/16', '10.0.255.0/24')).toBe(true);
  expect(o('10.0.0.0/24', '10.0.1.0/24')).toBe(false);
});

test('published ports: numbers 1-65535, tcp or udp, no guest or host port twice', () => {
  expect(portsProblem([{ guest: 80 }, { guest: 80, protocol: 'udp' }, { guest: 443, host: 8443 }])).toBeUndefined();
  expect(portsProblem([{ guest: 0 }])).toBe('port 1: expected a whole number from 1 to 65535, got 0');
  expect(portsProblem([{ guest: 80, host: 70000 }])).toBe('port 1: expected a whole number from 1 to 65535, got 70000');
  expect(portsProblem([{ guest: 80, protocol: 'sctp' }])).toBe('port 1: expected tcp or udp, got "sctp"');
  expect(portsProblem([{ guest: 80 }, { guest: 80 }])).toBe('port 2: guest port tcp/80 is published twice');
  expect(
    portsProblem([
      { guest: 80, host: 9000 },
      { guest: 81, host: 9000 },
    ]),
  ).toBe('port 2: host port tcp/9000 is given twice');
});

test('--port takes GUEST, HOST:GUEST and /udp, as docker -p writes them', () => {
  expect(parsePortOption('80')).toEqual({ guest: 80 });
  expect(parsePortOption('8080:80')).toEqual({ guest: 80, host: 8080 });
  expect(parsePortOption('5353:53/udp')).toEqual({ guest: 53, host: 5353, protocol: 'udp' });
  expect(() => parsePortOption('80:')).toThrow(/--port: expected GUEST, HOST:GUEST/);
  expect(() => parsePortOption('http')).toThrow(/got "http"/);
});

test('host interface names fit in 15 characters and MACs are locally administered and distinct', () => {
  const n = routerNames(hostKey('/state', 'i-123'));
  for (const name of [n.guestBridge, n.guestVeth, n.tap, n.attachment(7), n.netns.slice(9)]) expect(name.length).toBeLessThanOrEqual(15);
  const a = attachmentMac('k1', 0);
  expect(a).toMatch(/^02(:[0-9a-f]{2}){5}$/);
  expect(attachmentMac('k1', 1)).not.toBe(a);
  expect(attachmentMac('k2', 0)).not.toBe(a);
});
