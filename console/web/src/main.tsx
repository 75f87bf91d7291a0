/**
 * The mailgw console's pages (issue 17): gateways, message search with a
 * message's timeline, the queue of every pod with its actions, the backup
 * store with release. Everything it shows comes from the console server
 * (/api, which asks each pod with the caller's token); everything it
 * renders is text (Preact escapes it), so a Subject or an address can never
 * become markup. The token lives in this tab's sessionStorage and goes in
 * the Authorization header: no cookie, so no other site can make the
 * browser act (CSRF).
 */
import { Fragment, render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './styles.css';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
interface Reply { status: number; body: Json }

const TOKEN_KEY = 'mailgw-console-token';

async function call(method: string, path: string): Promise<Reply> {
  const res = await fetch(path, { method, headers: { authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) ?? ''}`, 'x-mailgw-console': '1' } });
  const body = (await res.json().catch(() => ({ error: `HTTP ${res.status}` }))) as Json;
  return { status: res.status, body };
}

const time = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
const enc = encodeURIComponent;

function useHash(): string {
  const [hash, setHash] = useState(location.hash || '#/messages');
  useEffect(() => {
    const on = () => setHash(location.hash || '#/messages');
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function Notice({ reply }: { reply: Reply | undefined }) {
  if (!reply) return null;
  const failed = (reply.body.pods as Json[] | undefined)?.filter((p) => !p.ok) ?? [];
  if (reply.status >= 400) return <p class="error" role="alert">{String(reply.body.error ?? `HTTP ${reply.status}`)}</p>;
  if (failed.length === 0) return null;
  return <p class="warning" role="status">Partial results: {failed.map((p) => `${p.pod} did not answer (${p.error ?? p.status})`).join('; ')}.</p>;
}

function Login({ onDone }: { onDone: () => void }) {
  const [token, setToken] = useState('');
  return (
    <main class="login">
      <h1>mailgw console</h1>
      <form onSubmit={(e) => { e.preventDefault(); sessionStorage.setItem(TOKEN_KEY, token.trim()); onDone(); }}>
        <label for="token">Access token</label>
        <input id="token" type="password" autocomplete="off" value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} required />
        <p class="hint">A Kubernetes token (<code>kubectl create token …</code>) or, locally, a token <code>mailgw up --console</code> printed.</p>
        <button type="submit">Sign in</button>
      </form>
    </main>
  );
}

function Gateways({ gateways, current, base }: { gateways: Json[]; current: string; base: string }) {
  const [pods, setPods] = useState<Reply>();
  const [config, setConfig] = useState<Reply>();
  useEffect(() => {
    void call('GET', `${base}/status`).then(setPods);
    void call('GET', `${base}/config`).then(setConfig);
  }, [base]);
  const g = gateways.find((x) => `${x.namespace}/${x.name}` === current);
  const status = (g?.status ?? {}) as Json;
  const ages = (s: number) => (s < 120 ? `${Math.round(s)} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`);
  return (
    <section aria-labelledby="gw-title">
      <h2 id="gw-title">Gateway {current}</h2>
      {status.replicas !== undefined && <p>Replicas: {status.readyReplicas ?? 0} of {status.replicas} ready</p>}
      {(status.conditions as Json[] | undefined)?.length ? (
        <ul class="conditions">{(status.conditions as Json[]).map((c) => <li key={c.type}><strong>{c.type}</strong>: {c.status}{c.reason ? ` (${c.reason})` : ''}{c.message ? ` — ${c.message}` : ''}</li>)}</ul>
      ) : null}
      <h3>Pods</h3>
      <Notice reply={pods} />
      <div class="table">
        <table>
          <thead><tr><th scope="col">Pod</th><th scope="col">Ready</th><th scope="col">Queue</th><th scope="col">Oldest</th><th scope="col">Memory budget</th><th scope="col">Config generation</th></tr></thead>
          <tbody>
            {((pods?.status === 200 ? pods.body.items : []) as Json[]).map((p) => (
              <tr key={p.pod}>
                <td>{p.pod}</td>
                <td>{p.ready === 'ready' ? 'yes' : `no: ${p.ready}`}</td>
                <td>{Object.entries(p.queue.byState as Json).map(([k, v]) => `${v} ${k}`).join(', ') || 'empty'}</td>
                <td>{p.queue.oldestSeconds > 0 ? ages(p.queue.oldestSeconds) : '-'}</td>
                <td>{Math.round(p.memoryBudget.used / 1048576)} of {Math.round(p.memoryBudget.limit / 1048576)} MiB</td>
                <td>{p.configGeneration}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {(status.lint as Json[] | undefined)?.length ? (
        <>
          <h3>Lint findings</h3>
          <ul>{(status.lint as Json[]).map((f, i) => <li key={i}><strong>{f.code}</strong> {f.severity} {f.field}: {f.message}</li>)}</ul>
        </>
      ) : null}
      <h3>Running config</h3>
      <Notice reply={config} />
      {config?.status === 200 && <pre class="text">{JSON.stringify(config.body.config, null, 2)}</pre>}
    </section>
  );
}

function Messages({ base }: { base: string }) {
  const [q, setQ] = useState({ sender: '', recipient: '', subject: '', status: '' });
  const [reply, setReply] = useState<Reply>();
  const search = async (cursor?: string) => {
    const params = new URLSearchParams(Object.entries(q).filter(([, v]) => v));
    if (cursor) params.set('cursor', cursor);
    setReply(await call('GET', `${base}/traffic?${params}`));
  };
  useEffect(() => { void search(); }, [base]);
  const field = (name: keyof typeof q, label: string) => (
    <label>{label}<input name={name} value={q[name]} onInput={(e) => setQ({ ...q, [name]: (e.target as HTMLInputElement).value })} /></label>
  );
  const items = (reply?.status === 200 ? reply.body.items : []) as Json[];
  return (
    <section aria-labelledby="msg-title">
      <h2 id="msg-title">Messages</h2>
      <form class="filters" onSubmit={(e) => { e.preventDefault(); void search(); }}>
        {field('sender', 'Sender')}
        {field('recipient', 'Recipient')}
        {field('subject', 'Subject words')}
        <label>Status
          <select name="status" value={q.status} onChange={(e) => setQ({ ...q, status: (e.target as HTMLSelectElement).value })}>
            {['', 'queued', 'deferred', 'delivered', 'failed', 'deleted', 'rejected', 'tempfail', 'mixed'].map((s) => <option key={s} value={s}>{s || 'any'}</option>)}
          </select>
        </label>
        <button type="submit">Search</button>
      </form>
      <Notice reply={reply} />
      <div class="table">
        <table>
          <thead><tr><th scope="col">Received</th><th scope="col">Status</th><th scope="col">Sender</th><th scope="col">Recipients</th><th scope="col">Subject</th><th scope="col">Pod</th></tr></thead>
          <tbody>
            {items.map((m) => (
              <tr key={m.qid}>
                <td><a href={`#/message/${enc(m.pod)}/${enc(m.qid)}`}>{time(m.received)}</a></td>
                <td><span class={`status ${m.status}`}>{m.status}</span></td>
                <td>{m.sender || '<>'}</td>
                <td>{(m.recipients as Json[]).map((r) => r.address).join(', ')}</td>
                <td>{m.subject ?? ''}</td>
                <td>{m.pod}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {items.length === 0 && reply?.status === 200 && <p>No messages found.</p>}
      {reply?.body.next && <button type="button" onClick={() => void search(reply.body.next)}>Older messages</button>}
    </section>
  );
}

/** One timeline event in words (the raw fields for the rest). */
function describe(e: Json): string {
  const d = e.detail as Json;
  switch (e.event) {
    case 'message': return `answered ${d.code}${d.reply ? ` ${d.reply}` : ''}: ${d.from || '<>'} → ${(d.to as string[] | undefined)?.join(', ') ?? ''}, ${d.size} bytes${d.tls ? `, ${d.tls}` : ''}`;
    case 'delivery': return `${d.to}: ${d.status}${d.dsn ? ` ${d.dsn}` : ''}${d.relay ? ` via ${d.relay}` : ''}${d.reply ? ` (${d.reply})` : ''}${d.attempt ? `, attempt ${d.attempt}` : ''}`;
    case 'verdict': return [d.status && Object.entries(d.status as Json).map(([k, v]) => `${k} ${v}`).join(', '), d.action && `action ${d.action}`, (d.reasons as string[] | undefined)?.join('; ')].filter(Boolean).join(' — ') || 'no findings';
    case 'admin': return `${d.actor}: ${d.action}${d.ok === false ? ' (nothing done)' : ''}`;
    case 'bounce': return `${d.kind} notification to ${d.to || '<>'}`;
    case 'removed': return d.reason ? String(d.reason) : `left the queue: ${d.delivered} delivered, ${d.failed} failed`;
    default: return Object.entries(d).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ');
  }
}

function Timeline({ base, pod, qid }: { base: string; pod: string; qid: string }) {
  const [reply, setReply] = useState<Reply>();
  useEffect(() => { void call('GET', `${base}/pods/${enc(pod)}/v1/traffic/${enc(qid)}`).then(setReply); }, [base, pod, qid]);
  const m = reply?.status === 200 ? reply.body : undefined;
  return (
    <section aria-labelledby="tl-title">
      <h2 id="tl-title">Message {qid}</h2>
      <Notice reply={reply} />
      {m && (
        <>
          <dl class="facts">
            <dt>Status</dt><dd><span class={`status ${m.status}`}>{m.status}</span></dd>
            <dt>From</dt><dd>{m.sender || '<>'}</dd>
            <dt>Subject</dt><dd>{m.subject ?? ''}</dd>
            <dt>Client</dt><dd>{m.client ?? ''} {m.helo ? `(${m.helo})` : ''} {m.tls ?? ''}</dd>
            <dt>Message-ID</dt><dd>{m.messageId ?? ''}</dd>
            <dt>Verdict</dt><dd>{m.verdict ?? 'not scanned'}</dd>
          </dl>
          <h3>Recipients</h3>
          <ul>{(m.recipients as Json[]).map((r) => <li key={r.address}>{r.address}: {r.status} {r.dsn ?? ''} {r.relay ? `via ${r.relay}` : ''} {r.reply ? `(${r.reply})` : ''}</li>)}</ul>
          <h3>Timeline</h3>
          <ol class="timeline">
            {(m.events as Json[]).map((e, i) => <li key={i}><time>{time(e.at)}</time> <strong>{e.event}</strong> <span>{describe(e)}</span></li>)}
          </ol>
        </>
      )}
    </section>
  );
}

function Queue({ base }: { base: string }) {
  const [reply, setReply] = useState<Reply>();
  const [outcome, setOutcome] = useState<Reply>();
  const load = async () => setReply(await call('GET', `${base}/queue`));
  useEffect(() => { void load(); }, [base]);
  const act = async (e: Json, action: string) => {
    const r = action === 'delete' ? await call('DELETE', `${base}/pods/${enc(e.pod)}/v1/queue/${enc(e.id)}`) : await call('POST', `${base}/pods/${enc(e.pod)}/v1/queue/${enc(e.id)}/${action}`);
    setOutcome(r.status === 200 ? { status: 200, body: { message: `${e.id}: ${action} done` } } : r);
    await load();
  };
  const items = (reply?.status === 200 ? reply.body.items : []) as Json[];
  return (
    <section aria-labelledby="q-title">
      <h2 id="q-title">Queue</h2>
      <Notice reply={reply} />
      {outcome && (outcome.status === 200 ? <p class="ok" role="status">{outcome.body.message}</p> : <Notice reply={outcome} />)}
      <div class="table">
        <table>
          <thead><tr><th scope="col">Queue ID</th><th scope="col">Pod</th><th scope="col">Sender</th><th scope="col">Recipients</th><th scope="col">Attempts</th><th scope="col">State</th><th scope="col">Actions</th></tr></thead>
          <tbody>
            {items.map((e) => (
              <tr key={e.id}>
                <td><a href={`#/message/${enc(e.pod)}/${enc(e.id)}`}>{e.id}</a></td>
                <td>{e.pod}</td>
                <td>{e.sender || '<>'}</td>
                <td>{(e.recipients as Json[]).filter((r) => r.status !== 'delivered').map((r) => `${r.address}${r.diagnostic ? ` (${r.diagnostic})` : ''}`).join(', ')}</td>
                <td>{e.attempts}</td>
                <td>{e.held ? 'on hold' : 'waiting'}</td>
                <td class="actions">
                  {e.held ? <button type="button" onClick={() => void act(e, 'release')} aria-label={`Release ${e.id}`}>Release</button>
                    : <button type="button" onClick={() => void act(e, 'hold')} aria-label={`Hold ${e.id}`}>Hold</button>}
                  <button type="button" onClick={() => void act(e, 'flush')} aria-label={`Retry ${e.id} now`}>Retry now</button>
                  <button type="button" class="danger" onClick={() => confirm(`Delete ${e.id} without a DSN?`) && void act(e, 'delete')} aria-label={`Delete ${e.id}`}>Delete</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {items.length === 0 && reply?.status === 200 && <p>The queue is empty.</p>}
    </section>
  );
}

function Backups({ base }: { base: string }) {
  const [reply, setReply] = useState<Reply>();
  const [view, setView] = useState<{ entry: Json; reply: Reply }>();
  const [outcome, setOutcome] = useState<Reply>();
  const [to, setTo] = useState('');
  const load = async () => setReply(await call('GET', `${base}/backup`));
  useEffect(() => { void load(); }, [base]);
  const open = async (entry: Json) => setView({ entry, reply: await call('GET', `${base}/pods/${enc(entry.pod)}/v1/backup/${enc(entry.id)}`) });
  const release = async (entry: Json) => {
    const r = await call('POST', `${base}/pods/${enc(entry.pod)}/v1/backup/${enc(entry.id)}/release${to ? `?to=${enc(to)}` : ''}`);
    setOutcome(r.status === 200 ? { status: 200, body: { message: `${entry.id}: released as ${String(r.body.queued)}` } } : r);
  };
  const items = (reply?.status === 200 ? reply.body.items : []) as Json[];
  const shown = view?.reply.status === 200 ? view.reply.body : undefined;
  return (
    <section aria-labelledby="b-title">
      <h2 id="b-title">Backup store</h2>
      <Notice reply={reply} />
      {outcome && (outcome.status === 200 ? <p class="ok" role="status">{outcome.body.message}</p> : <Notice reply={outcome} />)}
      <div class="table">
        <table>
          <thead><tr><th scope="col">Stored</th><th scope="col">Pod</th><th scope="col">From</th><th scope="col">To</th><th scope="col">Rule, action</th><th scope="col"></th></tr></thead>
          <tbody>
            {items.map((b) => (
              <tr key={b.id}>
                <td>{String(b.storedAt).slice(0, 19).replace('T', ' ')}</td>
                <td>{b.pod}</td>
                <td>{b.from || '<>'}</td>
                <td>{(b.to as string[]).join(', ')}</td>
                <td>{b.rule}, {b.action}</td>
                <td><button type="button" onClick={() => void open(b)} aria-label={`View backup ${b.id}`}>View</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {view && (
        <article class="card" aria-labelledby="bv-title">
          <h3 id="bv-title">Backup {view.entry.id}</h3>
          <Notice reply={view.reply} />
          {shown && (
            <>
              <dl class="facts">{(shown.headers as [string, string][]).filter(([n]) => ['from', 'to', 'subject', 'date', 'message-id'].includes(n)).map(([n, v], i) => <Fragment key={i}><dt>{n}</dt><dd>{v}</dd></Fragment>)}</dl>
              <pre class="text">{shown.text ?? '(no text part)'}</pre>
              {(shown.parts as Json[]).length > 0 && <p>Other parts: {(shown.parts as Json[]).map((p) => `${p.filename ?? p.contentType} (${p.bytes} bytes)`).join(', ')}</p>}
            </>
          )}
          <form class="filters" onSubmit={(e) => { e.preventDefault(); void release(view.entry); }}>
            <label>Release to (empty: the original recipients)<input name="to" type="email" value={to} onInput={(e) => setTo((e.target as HTMLInputElement).value)} /></label>
            <button type="submit">Release</button>
          </form>
        </article>
      )}
    </section>
  );
}

function App() {
  const [signedIn, setSignedIn] = useState(Boolean(sessionStorage.getItem(TOKEN_KEY)));
  const [gateways, setGateways] = useState<Reply>();
  const [current, setCurrent] = useState('');
  const hash = useHash();
  useEffect(() => {
    if (!signedIn) return;
    void call('GET', '/api/gateways').then((r) => {
      setGateways(r);
      if (r.status === 401) {
        sessionStorage.removeItem(TOKEN_KEY);
        setSignedIn(false);
      }
      const list = (r.status === 200 ? r.body : []) as unknown as Json[];
      if (list[0]) setCurrent((c) => c || `${list[0]!.namespace}/${list[0]!.name}`);
    });
  }, [signedIn]);
  if (!signedIn) return <Login onDone={() => setSignedIn(true)} />;
  const list = (gateways?.status === 200 ? gateways.body : []) as unknown as Json[];
  const base = `/api/gateways/${current.split('/').map(enc).join('/')}`;
  const [, page, pod, qid] = hash.split('/');
  const nav = [['messages', 'Messages'], ['queue', 'Queue'], ['backups', 'Backups'], ['gateways', 'Gateways']];
  return (
    <>
      <header>
        <h1>mailgw</h1>
        <label class="gateway">Gateway
          <select value={current} onChange={(e) => setCurrent((e.target as HTMLSelectElement).value)}>
            {list.map((g) => <option key={`${g.namespace}/${g.name}`} value={`${g.namespace}/${g.name}`}>{g.namespace}/{g.name}</option>)}
          </select>
        </label>
        <nav aria-label="Pages">
          {nav.map(([id, label]) => <a key={id} href={`#/${id}`} aria-current={page === id ? 'page' : undefined}>{label}</a>)}
        </nav>
        <button type="button" class="signout" onClick={() => { sessionStorage.removeItem(TOKEN_KEY); setSignedIn(false); }}>Sign out</button>
      </header>
      <main>
        <Notice reply={gateways} />
        {current && page === 'messages' && <Messages base={base} />}
        {current && page === 'message' && pod && qid && <Timeline base={base} pod={decodeURIComponent(pod)} qid={decodeURIComponent(qid)} />}
        {current && page === 'queue' && <Queue base={base} />}
        {current && page === 'backups' && <Backups base={base} />}
        {current && page === 'gateways' && <Gateways gateways={list} current={current} base={base} />}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
