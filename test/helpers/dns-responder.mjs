// A small DNS server for the tests, in the part of Docker's resolver: over UDP and TCP on
// ADDRESS:PORT it answers A queries for the names it holds, and passes any other query on to
// UPSTREAM:53 over the same transport, from its own network namespace, as dockerd forwards
// external names; without UPSTREAM, other names are NXDOMAIN. It prints "listening PORT" when ready.
//   node dns-responder.mjs ADDRESS PORT NAME=IP[,NAME=IP...] [UPSTREAM]
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';

const [address, port, records, upstream] = process.argv.slice(2);
const names = new Map(records.split(',').map((r) => r.split('=')).map(([n, ip]) => [n.toLowerCase(), ip]));

/** The question's name and type, and where the question ends. */
function question(msg) {
  const labels = [];
  let at = 12;
  while (msg[at] !== 0) {
    labels.push(msg.subarray(at + 1, at + 1 + msg[at]).toString());
    at += 1 + msg[at];
  }
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(at + 1), end: at + 5 };
}

/** The answer we hold, or undefined when the query is to go upstream. */
function local(msg) {
  const q = question(msg);
  const ip = names.get(q.name);
  if (!ip && upstream) return undefined;
  const header = Buffer.alloc(12);
  msg.copy(header, 0, 0, 2);
  header.writeUInt16BE(ip ? 0x8180 : 0x8183, 2); // a response, recursion available; NXDOMAIN without a name
  header.writeUInt16BE(1, 4);
  const record = ip && q.type === 1 ? Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ...ip.split('.').map(Number)]) : Buffer.alloc(0);
  header.writeUInt16BE(record.length ? 1 : 0, 6);
  return Buffer.concat([header, msg.subarray(12, q.end), record]);
}

function forwardUdp(msg, reply) {
  const s = createSocket('udp4');
  s.on('error', () => s.close());
  s.on('message', (answer) => (reply(answer), s.close()));
  s.connect(53, upstream, () => s.send(msg));
}

function forwardTcp(msg, reply) {
  const s = connect(53, upstream, () => s.write(frame(msg)));
  let got = Buffer.alloc(0);
  s.on('error', () => s.destroy());
  s.on('data', (d) => {
    got = Buffer.concat([got, d]);
    if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) (reply(got.subarray(2, 2 + got.readUInt16BE(0))), s.destroy());
  });
}

const frame = (msg) => Buffer.concat([Buffer.from([msg.length >> 8, msg.length & 0xff]), msg]);

const udp = createSocket('udp4');
udp.on('message', (msg, from) => {
  const reply = (answer) => udp.send(answer, from.port, from.address);
  const answer = local(msg);
  if (answer) reply(answer);
  else forwardUdp(msg, reply);
});
const tcp = createServer((socket) => {
  let got = Buffer.alloc(0);
  socket.on('error', () => undefined);
  socket.on('data', (d) => {
    got = Buffer.concat([got, d]);
    while (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) {
      const msg = got.subarray(2, 2 + got.readUInt16BE(0));
      got = got.subarray(2 + msg.length);
      const reply = (answer) => socket.write(frame(answer));
      const answer = local(msg);
      if (answer) reply(answer);
      else forwardTcp(msg, reply);
    }
  });
});
// With PORT 0, TCP takes the port UDP got.
udp.bind(Number(port), address, () => tcp.listen(udp.address().port, address, () => console.log(`listening ${udp.address().port}`)));
