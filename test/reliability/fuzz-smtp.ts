/**
 * A grammar for hostile SMTP dialogues, driven by a seeded PRNG so a failing
 * run can be replayed (the seed is in the test name). A dialogue is a list of
 * steps: a command line built from a verb and arguments (valid ones, near
 * misses, over-long ones, NUL, bare CR and LF, bad UTF-8, random bytes), a
 * DATA body with the same hazards, sent one by one or pipelined in a single
 * write, ending with QUIT or a dropped connection.
 */

/** mulberry32: small, fast, good enough to vary inputs reproducibly. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Grammar {
  private readonly r: () => number;

  constructor(seed: number) {
    this.r = prng(seed);
  }

  int(n: number): number {
    return Math.floor(this.r() * n);
  }

  chance(p: number): boolean {
    return this.r() < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  /** Bytes that break parsers: NUL, bare CR/LF, invalid UTF-8, 8-bit, control characters, very long runs. */
  hazard(): Buffer {
    return this.pick([
      () => Buffer.from([0]),
      () => Buffer.from('\r'),
      () => Buffer.from('\n'),
      () => Buffer.from([0xc3, 0x28]), // invalid UTF-8 continuation
      () => Buffer.from([0xff, 0xfe, 0xfd]),
      () => Buffer.from([0xed, 0xa0, 0x80]), // UTF-16 surrogate encoded in UTF-8
      () => Buffer.from('ü€𝄞', 'utf8'),
      () => Buffer.from([this.int(32)]),
      () => Buffer.alloc(1 + this.int(this.chance(0.1) ? 70_000 : 2000), 'A'),
      () => Buffer.from('<>'.repeat(1 + this.int(50))),
      () => Buffer.from('%!@:,"\\'.split('')[this.int(7)]!.repeat(1 + this.int(20))),
      () => Buffer.from(Array.from({ length: 1 + this.int(40) }, () => this.int(256))),
    ])();
  }

  /** Something in the place of an address: valid, near miss or garbage. */
  address(): Buffer {
    if (this.chance(0.5)) {
      return Buffer.from(this.pick(['<user@example.com>', '<>', '<postmaster>', '<a@b>', '<"q u"@example.com>', '<ü@bücher.test>', '<x@[127.0.0.1]>', '<@a,@b:c@example.com>', '<user@example.com', 'user@example.com>', '<<user@example.com>>']));
    }
    return Buffer.concat([Buffer.from('<'), this.hazard(), Buffer.from(this.chance(0.5) ? '@example.com>' : '')]);
  }

  params(): Buffer {
    const p = this.pick(['SIZE=', 'BODY=', 'SMTPUTF8', 'NOTIFY=', 'ORCPT=', 'RET=', 'ENVID=', 'AUTH=', 'X=', '=', 'SIZE=99999999999999999999']);
    const v = this.chance(0.5) ? Buffer.from(this.pick(['8BITMIME', '7BITMIME', 'BINARYMIME', 'NEVER', 'SUCCESS,FAILURE', 'rfc822;a@b', 'FULL', 'HDRS', '1', '-1', ''])) : this.hazard();
    return Buffer.concat([Buffer.from(` ${p}`), v]);
  }

  command(): Buffer {
    const verb = this.pick(['EHLO', 'HELO', 'MAIL FROM:', 'RCPT TO:', 'DATA', 'RSET', 'NOOP', 'VRFY', 'EXPN', 'HELP', 'STARTTLS', 'AUTH PLAIN', 'AUTH LOGIN', 'BDAT', 'XCLIENT', 'PROXY TCP4', 'QUIT', 'ETRN', 'TURN', '', 'MAIL', 'RCPT']);
    const cased = this.chance(0.2) ? verb.toLowerCase() : verb;
    let arg: Buffer;
    if (/FROM:|TO:/.test(verb)) arg = Buffer.concat([this.address(), ...Array.from({ length: this.int(3) }, () => this.params())]);
    else if (verb === 'BDAT') arg = Buffer.from(` ${this.pick(['0', '10', '10 LAST', '-1', 'x', '99999999999'])}`);
    else if (this.chance(0.5)) arg = Buffer.concat([Buffer.from(' '), this.chance(0.5) ? Buffer.from('client.test') : this.hazard()]);
    else arg = Buffer.alloc(0);
    return Buffer.concat([Buffer.from(cased), arg]);
  }

  terminator(): Buffer {
    return Buffer.from(this.chance(0.85) ? '\r\n' : this.pick(['\n', '\r', '\r\r\n', '']));
  }

  body(): Buffer {
    const lines: Buffer[] = [];
    const n = this.int(this.chance(0.1) ? 2000 : 30);
    for (let i = 0; i < n; i++) {
      lines.push(this.chance(0.7) ? Buffer.from(this.pick(['Subject: fuzz', 'From: <a@b>', '', 'text', '.', '..', ' folded', 'X-H:'])) : this.hazard());
      lines.push(this.terminator());
    }
    if (this.chance(0.9)) lines.push(Buffer.from('.\r\n'));
    return Buffer.concat(lines);
  }

  /** One dialogue: the chunks to write and whether to wait for a reply after each. */
  dialogue(): { chunks: Buffer[]; pipelined: boolean; drop: boolean; patient: boolean } {
    const chunks: Buffer[] = [];
    if (this.chance(0.8)) chunks.push(Buffer.from(`EHLO fuzz.test\r\n`));
    const steps = 1 + this.int(14);
    for (let i = 0; i < steps; i++) {
      if (this.chance(0.15)) chunks.push(Buffer.concat([Buffer.from('DATA\r\n'), this.body()]));
      else chunks.push(Buffer.concat([this.command(), this.terminator()]));
    }
    if (this.chance(0.7)) chunks.push(Buffer.from('QUIT\r\n'));
    return { chunks, pipelined: this.chance(0.4), drop: this.chance(0.2), patient: this.chance(0.9) };
  }
}
