import { it } from 'node:test';
import assert from 'node:assert/strict';
import { backupView, TEXT_LIMIT } from './backup-view.ts';

const message = (body: string, head = '') => Buffer.from(`From: =?utf-8?q?B=C3=A4nk?= <a@bank.test>\r\nSubject: <script>x</script>\r\n${head}\r\n${body}`);

it('backupView: decoded headers, the text/plain part as text, other parts only by name, type and size', () => {
  const v = backupView(message([
    '--b', 'Content-Type: text/plain; charset=iso-8859-1', 'Content-Transfer-Encoding: quoted-printable', '', 'Gr=FC=DFe', '--b',
    'Content-Type: text/html', '', '<img src=x onerror=alert(1)>', '--b',
    'Content-Type: application/pdf; name="a.pdf"', 'Content-Transfer-Encoding: base64', '', 'JVBERi0=', '--b--', '',
  ].join('\r\n'), 'Content-Type: multipart/mixed; boundary="b"\r\n'));
  assert.deepEqual(v.headers.slice(0, 2), [['from', 'Bänk <a@bank.test>'], ['subject', '<script>x</script>']]);
  assert.equal(v.text, 'Grüße');
  assert.deepEqual(v.parts, [{ contentType: 'text/html', filename: null, bytes: 28 }, { contentType: 'application/pdf', filename: 'a.pdf', bytes: 5 }]);
  assert.equal(JSON.stringify(v).includes('onerror'), false, 'the HTML is not shown');
});

it('backupView: no text part gives null; a long text is cut', () => {
  assert.equal(backupView(message('<b>x</b>', 'Content-Type: text/html\r\n')).text, null);
  const long = backupView(message('y'.repeat(TEXT_LIMIT + 10)));
  assert.equal(long.text!.length, TEXT_LIMIT);
  assert.equal(long.textTruncated, true);
});
