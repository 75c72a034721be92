// Connections (the databases reachable through Bastion, one listener each) and identities (who
// may log in, to which). Passwords are write-only here: the UI never receives them back.

import { useEffect, useState } from 'react';
import type { ConnectionInput, ConnectionView, IdentityView } from '../../../shared/api.js';
import { FormModal, TextField } from '../components/form.js';
import { Database, Pause, Play, Plus, Users } from '../components/icons.js';
import { CopyButton, Empty, Pill, typingIn } from '../components/ui.js';
import { useApp, useAppStore } from '../context.js';

type Editing =
  | { kind: 'connection'; view: ConnectionView | null }
  | { kind: 'identity'; view: IdentityView | null }
  | null;

export function Connections() {
  const list = useApp((s) => s.conn.list);
  const identities = useApp((s) => s.conn.identities);
  const loaded = useApp((s) => s.conn.loaded);
  const [editing, setEditing] = useState<Editing>(null);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (typingIn(e) || e.metaKey || e.ctrlKey || e.altKey || document.querySelector('.backdrop')) return;
      if (e.key === 'n') {
        e.preventDefault();
        setEditing({ kind: 'connection', view: null });
      } else if (e.key === 'i') {
        e.preventDefault();
        setEditing({ kind: 'identity', view: null });
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  return (
    <>
      <header className="page-head">
        <h1>Connections</h1>
        <span className="sub">Databases agents reach through Bastion, and who may log in.</span>
        <span className="grow" />
        <button type="button" className="btn" onClick={() => setEditing({ kind: 'identity', view: null })}>
          <Users size={14} /> Add identity <kbd>i</kbd>
        </button>
        <button
          type="button"
          className="btn primary"
          onClick={() => setEditing({ kind: 'connection', view: null })}
        >
          <Plus size={14} /> Add connection <kbd>n</kbd>
        </button>
      </header>
      <div className="page-body">
        {loaded && list.length === 0 ? (
          <Empty icon={<Database size={26} />} title="No databases yet">
            <p>
              Add the PostgreSQL database your agents should use. Bastion listens on a local port, checks who
              logs in, records every statement and connects upstream with credentials only it holds.
            </p>
            <button
              type="button"
              className="btn primary big"
              onClick={() => setEditing({ kind: 'connection', view: null })}
            >
              <Plus /> Add a connection
            </button>
          </Empty>
        ) : (
          <>
            <div className="h2row">
              <h2>Databases</h2>
              <span className="sub">
                Each has its own listener. Clients connect to it with any PostgreSQL driver.
              </span>
            </div>
            <div className="cards">
              {list.map((c) => (
                <ConnectionCard
                  key={c.name}
                  c={c}
                  identities={identities}
                  onEdit={() => setEditing({ kind: 'connection', view: c })}
                />
              ))}
            </div>
          </>
        )}
        {loaded && (list.length > 0 || identities.length > 0) && (
          <>
            <div className="h2row">
              <h2>Identities</h2>
              <span className="sub">
                Who agents log in as: a user name and password, and the databases it may use.
              </span>
            </div>
            {identities.length === 0 ? (
              <Empty icon={<Users size={24} />} title="No identities yet" small>
                <p>Nobody can log in until you add an identity and give it a connection.</p>
                <button
                  type="button"
                  className="btn primary"
                  onClick={() => setEditing({ kind: 'identity', view: null })}
                >
                  <Plus size={14} /> Add an identity
                </button>
              </Empty>
            ) : (
              <IdentityTable list={identities} onEdit={(v) => setEditing({ kind: 'identity', view: v })} />
            )}
          </>
        )}
      </div>
      {editing?.kind === 'connection' && (
        <ConnectionForm view={editing.view} onClose={() => setEditing(null)} />
      )}
      {editing?.kind === 'identity' && <IdentityForm view={editing.view} onClose={() => setEditing(null)} />}
    </>
  );
}

function splitAddress(a: string): { host: string; port: string } {
  const i = a.lastIndexOf(':');
  return { host: a.slice(0, i).replace(/^\[|\]$/g, ''), port: a.slice(i + 1) };
}

function ConnectionCard({
  c,
  identities,
  onEdit,
}: {
  c: ConnectionView;
  identities: IdentityView[];
  onEdit(): void;
}) {
  const store = useAppStore();
  const busy = useApp((s) => s.conn.busy[c.name]);
  const [test, setTest] = useState<{ ok: boolean; message: string } | null>(null);
  const [confirming, setConfirming] = useState(false);
  const who = identities.find((i) => i.connections.includes(c.name));
  const { host, port } = splitAddress(c.address ?? c.listen);
  const db = /\/([^/?]+)(\?|$)/.exec(c.upstream)?.[1] ?? 'app';
  const psql = `psql "host=${host} port=${port} user=${who?.name ?? '<identity>'} dbname=${db} sslmode=require"`;
  const act = async (fn: () => Promise<unknown>, done?: string) => {
    try {
      await fn();
      if (done) store.getState().toast('success', done);
    } catch (e) {
      store.getState().toast('error', (e as Error).message);
    }
  };
  const label =
    c.state === 'listening'
      ? `Listening on ${c.address}`
      : c.state === 'failed'
        ? 'Failed'
        : c.state === 'starting'
          ? 'Starting'
          : 'Stopped';
  return (
    <article className="card" aria-label={`Connection ${c.name}`}>
      <div className="card-head">
        <span className={`dot ${c.state === 'listening' ? 'ok' : c.state === 'failed' ? 'bad' : ''}`} />
        <h3>{c.name}</h3>
        <Pill kind={c.state}>{label}</Pill>
      </div>
      <div className="route" title={`${c.listen} → ${c.upstream}`}>
        <span>{c.listen}</span>
        <span className="arrow">→</span>
        <span>{c.upstream}</span>
      </div>
      <div className="meta">
        <span>
          Sessions <b>{c.activeSessions}</b>
        </span>
        <span>
          Client TLS <b>{c.tls === 'configured' ? 'certificate files' : 'self-signed'}</b>
        </span>
        <span>
          Upstream password <b>{c.hasUpstreamPassword ? 'stored' : 'none'}</b>
        </span>
        <span>
          Identities <b>{identities.filter((i) => i.connections.includes(c.name)).length}</b>
        </span>
      </div>
      {c.upstreamSuperuser && (
        <div className="test-result bad" title="where a guardrail miss costs most">
          The upstream user is a superuser: give identities an upstream user or role with only the grants they
          need.
        </div>
      )}
      {(c.unboundMaskingColumns?.length ?? 0) > 0 && (
        <div
          className="test-result bad"
          title="a renamed column is followed; a dropped or misspelled one is not"
        >
          Masking rules name columns this database does not have, so they mask nothing here:{' '}
          {c.unboundMaskingColumns?.join(', ')}
        </div>
      )}
      {c.error && <div className="test-result bad">{c.error}</div>}
      {test && <div className={`test-result ${test.ok ? 'ok' : 'bad'}`}>{test.message}</div>}
      {c.state === 'listening' && (
        <div className="snippet">
          <code title={psql}>{psql}</code>
          <CopyButton text={psql} label="Copy the psql command" />
        </div>
      )}
      <div className="card-actions">
        {c.state === 'listening' ? (
          <button
            type="button"
            className="btn small"
            disabled={!!busy}
            onClick={() => act(() => store.getState().stopListener(c.name))}
          >
            <Pause size={13} /> {busy === 'stop' ? 'Stopping…' : 'Stop'}
          </button>
        ) : (
          <button
            type="button"
            className="btn small primary"
            disabled={!!busy}
            onClick={() =>
              act(async () => {
                const v = await store.getState().startListener(c.name);
                if (v.state !== 'listening')
                  throw new Error(`"${c.name}" could not start: ${v.error ?? 'unknown error'}`);
              })
            }
          >
            <Play size={13} /> {busy === 'start' ? 'Starting…' : 'Start'}
          </button>
        )}
        <button
          type="button"
          className="btn small"
          onClick={() =>
            act(async () => {
              setTest({ ok: true, message: 'Testing…' });
              setTest(await store.getState().testConnection(inputOf(c)));
            })
          }
        >
          Test
        </button>
        <button type="button" className="btn small" onClick={onEdit}>
          Edit
        </button>
        <span className="grow" />
        {confirming ? (
          <>
            <span className="muted" style={{ alignSelf: 'center' }}>
              Remove and end its sessions?
            </span>
            <button
              type="button"
              className="btn small danger solid"
              onClick={() => act(() => store.getState().removeConnection(c.name), `Removed "${c.name}"`)}
            >
              Remove
            </button>
            <button type="button" className="btn small ghost" onClick={() => setConfirming(false)}>
              Keep
            </button>
          </>
        ) : (
          <button type="button" className="btn small ghost danger" onClick={() => setConfirming(true)}>
            Remove
          </button>
        )}
      </div>
    </article>
  );
}

/** The form values of an existing connection (its password stays on the host). */
function inputOf(c: ConnectionView): ConnectionInput {
  const m = /^postgres:\/\/([^@]*)@(\[[^\]]+\]|[^:/]+):(\d+)\/([^?]*)\?sslmode=([\w-]+)/.exec(c.upstream);
  return {
    name: c.name,
    listen: c.listen,
    upstreamUser: decodeURIComponent(m?.[1] ?? ''),
    upstreamHost: (m?.[2] ?? '').replace(/^\[|\]$/g, ''),
    upstreamPort: Number(m?.[3] ?? 5432),
    upstreamDatabase: decodeURIComponent(m?.[4] ?? ''),
    sslmode: (m?.[5] ?? 'prefer') as ConnectionInput['sslmode'],
    upstreamPassword: null,
    tls: null,
    recordClientValues: c.recordClientValues ?? 'masked',
  };
}

function ConnectionForm({ view, onClose }: { view: ConnectionView | null; onClose(): void }) {
  const store = useAppStore();
  const existing = useApp((s) => s.conn.list);
  const initial: ConnectionInput = view
    ? inputOf(view)
    : {
        name: existing.length === 0 ? 'app' : '',
        listen: `127.0.0.1:${6432 + existing.length}`,
        upstreamHost: '127.0.0.1',
        upstreamPort: 5432,
        upstreamUser: 'postgres',
        upstreamDatabase: 'postgres',
        upstreamPassword: '',
        sslmode: 'prefer',
        tls: null,
        recordClientValues: 'masked',
      };
  const [f, setF] = useState(initial);
  const [tlsMode, setTlsMode] = useState<'self-signed' | 'files'>(
    view?.tls === 'configured' ? 'files' : 'self-signed',
  );
  const [tls, setTls] = useState({ cert: '', key: '' });
  const [test, setTest] = useState<{ ok: boolean; message: string } | null>(null);
  const [start, setStart] = useState(!view);
  const set = (p: Partial<ConnectionInput>) => setF({ ...f, ...p });
  const input = (): ConnectionInput => ({
    ...f,
    upstreamPassword: f.upstreamPassword ? f.upstreamPassword : null,
    // Blank files on a connection that has them keep them (the host knows the paths).
    tls:
      tlsMode === 'self-signed'
        ? null
        : !tls.cert && !tls.key && view?.tls === 'configured'
          ? undefined
          : tls,
  });
  const save = async () => {
    const v = await store.getState().saveConnection(input());
    if (start && v.state !== 'listening') {
      const s = await store.getState().startListener(v.name);
      if (s.state !== 'listening') {
        store.getState().toast('error', `Saved "${v.name}", but its listener could not start: ${s.error}`);
        onClose();
        return;
      }
    }
    store.getState().toast('success', `Saved "${v.name}"`);
    onClose();
  };
  return (
    <FormModal
      title={view ? `Edit ${view.name}` : 'Add a connection'}
      subtitle="Bastion listens on the address below and forwards to the database with these credentials. Clients never see them."
      saveLabel="Save connection"
      onSave={save}
      onClose={onClose}
      footerStart={
        <button
          type="button"
          className="btn"
          onClick={async () => {
            setTest({ ok: true, message: 'Testing…' });
            try {
              setTest(await store.getState().testConnection(input()));
            } catch (e) {
              setTest({ ok: false, message: (e as Error).message });
            }
          }}
        >
          Test connection
        </button>
      }
    >
      <div className="fieldset-title">Gateway</div>
      <TextField
        id="c-name"
        label="Name"
        span={3}
        value={f.name}
        disabled={!!view}
        placeholder="app"
        onValue={(name) => set({ name })}
      />
      <TextField
        id="c-listen"
        label="Listen address"
        span={3}
        mono
        value={f.listen}
        onValue={(listen) => set({ listen })}
      />
      <div className="fieldset-title">Upstream database</div>
      <TextField
        id="c-host"
        label="Host"
        span={4}
        value={f.upstreamHost}
        onValue={(upstreamHost) => set({ upstreamHost })}
      />
      <TextField
        id="c-port"
        label="Port"
        span={2}
        inputMode="numeric"
        value={String(f.upstreamPort)}
        onValue={(v) => set({ upstreamPort: Number(v.replace(/\D/g, '')) || 0 })}
      />
      <TextField
        id="c-db"
        label="Database"
        span={2}
        value={f.upstreamDatabase}
        onValue={(upstreamDatabase) => set({ upstreamDatabase })}
      />
      <TextField
        id="c-user"
        label="User"
        span={2}
        value={f.upstreamUser}
        onValue={(upstreamUser) => set({ upstreamUser })}
      />
      <TextField
        id="c-password"
        label="Password"
        span={2}
        type="password"
        autoComplete="new-password"
        placeholder={view?.hasUpstreamPassword ? 'stored: blank keeps it' : ''}
        value={f.upstreamPassword ?? ''}
        onValue={(upstreamPassword) => set({ upstreamPassword })}
      />
      <div className="field s3">
        <label htmlFor="c-sslmode">SSL mode</label>
        <select
          id="c-sslmode"
          className="select"
          value={f.sslmode}
          onChange={(e) => set({ sslmode: e.target.value as ConnectionInput['sslmode'] })}
        >
          <option value="disable">disable</option>
          <option value="prefer">prefer</option>
          <option value="require">require</option>
          <option value="verify-ca">verify-ca</option>
          <option value="verify-full">verify-full</option>
        </select>
      </div>
      <div className="field s3">
        <span className="label">Client TLS</span>
        <fieldset className="seg" aria-label="Client TLS">
          <button
            type="button"
            aria-pressed={tlsMode === 'self-signed'}
            onClick={() => setTlsMode('self-signed')}
          >
            Self-signed
          </button>
          <button type="button" aria-pressed={tlsMode === 'files'} onClick={() => setTlsMode('files')}>
            Certificate files
          </button>
        </fieldset>
      </div>
      <div className="field s3">
        <span className="label">Values clients type, in the store</span>
        <fieldset className="seg" aria-label="Values clients type, in the store">
          <button
            type="button"
            aria-pressed={f.recordClientValues !== 'clear'}
            title="PII in SQL text, parameters and COPY data is masked by the policy's detectors before it is recorded"
            onClick={() => set({ recordClientValues: 'masked' })}
          >
            Masked
          </button>
          <button
            type="button"
            aria-pressed={f.recordClientValues === 'clear'}
            title="Kept as sent (where policy requires the clear text)"
            onClick={() => set({ recordClientValues: 'clear' })}
          >
            Clear
          </button>
        </fieldset>
      </div>
      {tlsMode === 'files' && (
        <>
          <TextField
            id="c-cert"
            label="Certificate file"
            span={3}
            mono
            placeholder={view?.tls === 'configured' ? 'configured: blank keeps it' : '/path/to/gw.crt'}
            value={tls.cert}
            onValue={(cert) => setTls({ ...tls, cert })}
          />
          <TextField
            id="c-key"
            label="Key file"
            span={3}
            mono
            placeholder="/path/to/gw.key"
            value={tls.key}
            onValue={(key) => setTls({ ...tls, key })}
          />
        </>
      )}
      {!view && (
        <label className="check" style={{ gridColumn: 'span 6', justifySelf: 'start' }}>
          <input type="checkbox" checked={start} onChange={(e) => setStart(e.target.checked)} /> Start the
          listener after saving
        </label>
      )}
      {test && (
        <div
          className={`test-result ${test.ok ? 'ok' : 'bad'}`}
          style={{ gridColumn: 'span 6' }}
          role="status"
        >
          {test.message}
        </div>
      )}
    </FormModal>
  );
}

function IdentityTable({ list, onEdit }: { list: IdentityView[]; onEdit(v: IdentityView): void }) {
  const store = useAppStore();
  const [confirming, setConfirming] = useState<string | null>(null);
  return (
    <table className="tbl" aria-label="Identities">
      <thead>
        <tr>
          <th>Name</th>
          <th>Signs in with</th>
          <th>Connections</th>
          <th>Policy</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {list.map((i) => (
          <tr key={i.name}>
            <td>
              <b>{i.name}</b>
            </td>
            <td className="muted">{i.kind === 'oidc' ? 'OIDC token' : 'password (SCRAM)'}</td>
            <td>
              {i.connections.length === 0 ? (
                <span className="muted">none: cannot log in</span>
              ) : (
                i.connections.map((c) => (
                  <span key={c} className="chip">
                    {c}
                  </span>
                ))
              )}
            </td>
            <td className="muted">{i.policy}</td>
            <td className="actions">
              {confirming === i.name ? (
                <>
                  <button
                    type="button"
                    className="btn small danger solid"
                    onClick={() =>
                      store
                        .getState()
                        .removeIdentity(i.name)
                        .then(
                          () => store.getState().toast('success', `Removed "${i.name}"`),
                          (e: Error) => store.getState().toast('error', e.message),
                        )
                    }
                  >
                    Remove
                  </button>{' '}
                  <button type="button" className="btn small ghost" onClick={() => setConfirming(null)}>
                    Keep
                  </button>
                </>
              ) : (
                <>
                  <button type="button" className="btn small" onClick={() => onEdit(i)}>
                    Edit
                  </button>{' '}
                  <button
                    type="button"
                    className="btn small ghost danger"
                    onClick={() => setConfirming(i.name)}
                  >
                    Remove
                  </button>
                </>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function generatePassword(): string {
  const bytes = new Uint8Array(18);
  crypto.getRandomValues(bytes);
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_');
}

function IdentityForm({ view, onClose }: { view: IdentityView | null; onClose(): void }) {
  const store = useAppStore();
  const connections = useApp((s) => s.conn.list);
  const [name, setName] = useState(view?.name ?? '');
  const [password, setPassword] = useState('');
  const [shown, setShown] = useState(false);
  const [selected, setSelected] = useState<string[]>(
    view?.connections ?? (connections.length === 1 ? [connections[0]!.name] : []),
  );
  const [policy, setPolicy] = useState(view?.policy ?? 'default');
  const save = async () => {
    const v = await store.getState().saveIdentity({
      name,
      password: password === '' ? null : password,
      connections: selected,
      policy,
    });
    store.getState().toast('success', `Saved identity "${v.name}"`);
    onClose();
  };
  return (
    <FormModal
      title={view ? `Edit ${view.name}` : 'Add an identity'}
      subtitle="Agents log in as an identity with any PostgreSQL driver: user = its name, password = its secret. The secret is never sent to the database."
      saveLabel="Save identity"
      onSave={save}
      onClose={onClose}
    >
      <TextField
        id="i-name"
        label="Name"
        span={3}
        value={name}
        disabled={!!view}
        placeholder="agent-1"
        onValue={setName}
      />
      <TextField id="i-policy" label="Policy" span={3} value={policy} onValue={setPolicy} />
      {view?.kind !== 'oidc' && (
        <div className="field">
          <label htmlFor="i-password">Password</label>
          <div className="inline">
            <input
              id="i-password"
              className="input mono"
              type={shown ? 'text' : 'password'}
              autoComplete="new-password"
              placeholder={view ? 'stored: blank keeps it' : 'at least 8 characters'}
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
            <button
              type="button"
              className="btn"
              onClick={() => {
                setPassword(generatePassword());
                setShown(true);
              }}
            >
              Generate
            </button>
            {password && <CopyButton text={password} label="Copy the password" />}
          </div>
          <span className="hint">
            Copy it now: Bastion keeps it with its secrets and never shows it again.
          </span>
        </div>
      )}
      <div className="field">
        <span className="label">May use</span>
        {connections.length === 0 ? (
          <span className="muted">No connections yet: add one first, or save now and give access later.</span>
        ) : (
          <div className="checks">
            {connections.map((c) => (
              <label key={c.name} className="check">
                <input
                  type="checkbox"
                  checked={selected.includes(c.name)}
                  onChange={(e) =>
                    setSelected(
                      e.target.checked ? [...selected, c.name] : selected.filter((x) => x !== c.name),
                    )
                  }
                />
                {c.name}
              </label>
            ))}
          </div>
        )}
      </div>
    </FormModal>
  );
}
