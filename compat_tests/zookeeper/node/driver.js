#!/usr/bin/env node
// Scenarios for node-zookeeper-client 1.1.3, run by compat_tests/zookeeper/test_node_client.py.
//
//   node driver.js SCENARIO CONNECT_STRING [OTHER_CONNECT_STRING]
//
// Every result is printed as one JSON object per line on stdout; the Python test asserts on them. Error
// results carry the KeeperException code the client reported ({"err": -110}); longs (zxids, session ids)
// are printed as decimal strings. A scenario that needs the test to act (drop a connection) prints
// {"step": "ready"} and waits for a line on stdin. The process exits 0 when the scenario is done.
'use strict';

const readline = require('readline');
const zookeeper = require('node-zookeeper-client');

const { ACL, Id, Permission, CreateMode } = zookeeper;

function out(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
}

function long(buf) {
    return buf ? Buffer.from(buf).readBigInt64BE(0).toString() : null;
}

function stat(s) {
    if (!s) {
        return null;
    }
    return {
        czxid: long(s.czxid), mzxid: long(s.mzxid), pzxid: long(s.pzxid), ctime: long(s.ctime),
        mtime: long(s.mtime), version: s.version, cversion: s.cversion, aversion: s.aversion,
        ephemeralOwner: long(s.ephemeralOwner), dataLength: s.dataLength, numChildren: s.numChildren,
    };
}

function acls(list) {
    return list ? list.map((a) => ({ perms: a.permission, scheme: a.id.scheme, id: a.id.id })) : null;
}

function code(error) {
    return error ? (typeof error.getCode === 'function' ? error.getCode() : String(error)) : null;
}

// Call a callback-style client method; resolves to {err, values}.
function call(target, method, ...args) {
    return new Promise((resolve) => {
        target[method](...args, (error, ...values) => resolve({ err: code(error), values }));
    });
}

function connect(hosts) {
    return new Promise((resolve, reject) => {
        const client = zookeeper.createClient(hosts, { sessionTimeout: 30000, spinDelay: 100, retries: 0 });
        const timer = setTimeout(() => reject(new Error('connect timeout ' + hosts)), 15000);
        client.once('connected', () => {
            clearTimeout(timer);
            resolve(client);
        });
        client.connect();
    });
}

function waitFor(predicate, what) {
    return new Promise((resolve, reject) => {
        const started = Date.now();
        const poll = () => {
            if (predicate()) {
                resolve();
            } else if (Date.now() - started > 15000) {
                reject(new Error('timed out waiting for ' + what));
            } else {
                setImmediate(poll);
            }
        };
        poll();
    });
}

function stdinLine() {
    return new Promise((resolve) => {
        const rl = readline.createInterface({ input: process.stdin });
        rl.once('line', (line) => {
            rl.close();
            resolve(line);
        });
    });
}

const ALICE = 'alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E='; // digest of alice:secret
const data = (s) => Buffer.from(s, 'utf8');

const scenarios = {
    async crud(hosts) {
        const c = await connect(hosts);
        out({ step: 'session', id: long(c.getSessionId()), timeout: c.getSessionTimeout() });
        const step = async (name, method, ...args) => {
            const r = await call(c, method, ...args);
            const result = { step: name, err: r.err };
            if (method === 'getData') {
                result.data = r.values[0] === undefined || r.values[0] === null ? null : r.values[0].toString('utf8');
                result.stat = stat(r.values[1]);
            } else if (method === 'getChildren') {
                result.children = r.values[0] ? r.values[0].slice().sort() : null;
                result.stat = stat(r.values[1]);
            } else if (method === 'create' || method === 'mkdirp') {
                result.path = r.values[0] === undefined ? null : r.values[0];
            } else if (method === 'setData' || method === 'exists') {
                result.stat = stat(r.values[0]);
            }
            out(result);
        };
        await step('create', 'create', '/a', data('hello'));
        await step('create-again', 'create', '/a', data('x'));
        await step('get', 'getData', '/a');
        await step('set', 'setData', '/a', data('world!'), 0);
        await step('set-stale', 'setData', '/a', data('x'), 0);
        await step('exists', 'exists', '/a');
        await step('exists-missing', 'exists', '/missing');
        await step('get-missing', 'getData', '/missing');
        await step('seq1', 'create', '/seq-', CreateMode.PERSISTENT_SEQUENTIAL);
        await step('seq2', 'create', '/seq-', CreateMode.PERSISTENT_SEQUENTIAL);
        await step('eph', 'create', '/eph', data('e'), CreateMode.EPHEMERAL);
        await step('eph-seq', 'create', '/eseq-', CreateMode.EPHEMERAL_SEQUENTIAL);
        await step('eph-child', 'create', '/eph/child');
        await step('stat-eph', 'exists', '/eph');
        await step('no-parent', 'create', '/x/y');
        await step('mkdirp', 'mkdirp', '/x/y/z', data('deep'));
        await step('nodata', 'create', '/nodata');
        await step('get-nodata', 'getData', '/nodata');
        await step('children', 'getChildren', '/');
        await step('remove-stale', 'remove', '/a', 5);
        await step('remove', 'remove', '/a', 1);
        await step('remove-again', 'remove', '/a', -1);
        await step('remove-not-empty', 'remove', '/x', -1);
        await step('children-after', 'getChildren', '/');
        c.close();
        await new Promise((resolve) => c.once('disconnected', resolve));
        out({ step: 'closed' });
    },

    async watches(hosts) {
        const watcher = await connect(hosts);
        const other = await connect(hosts);
        const events = [];
        const record = (tag) => (event) => events.push({ tag, type: event.getName(), path: event.getPath() });
        for (const p of ['/d', '/c', '/gone']) {
            await call(other, 'create', p);
        }
        out({ step: 'get', err: (await call(watcher, 'getData', '/d', record('data'))).err });
        out({ step: 'exists', err: (await call(watcher, 'exists', '/n', record('exists'))).err });
        out({ step: 'children', err: (await call(watcher, 'getChildren', '/c', record('child'))).err });
        out({ step: 'get-gone', err: (await call(watcher, 'getData', '/gone', record('gone'))).err });
        out({ step: 'children-gone', err: (await call(watcher, 'getChildren', '/gone', record('gone-child'))).err });
        await call(other, 'setData', '/d', data('1'), -1);
        await call(other, 'setData', '/d', data('2'), -1); // one-shot: nothing more
        await call(other, 'create', '/n');
        await call(other, 'create', '/c/x');
        await call(other, 'create', '/c/y');
        await call(other, 'remove', '/gone', -1);
        await call(watcher, 'exists', '/barrier', record('barrier'));
        await call(other, 'create', '/barrier');
        await waitFor(() => events.some((e) => e.tag === 'barrier'), 'the barrier event');
        out({ step: 'events', events });
        watcher.close();
        other.close();
    },

    async transactions(hosts) {
        const c = await connect(hosts);
        const ok = await new Promise((resolve) => c.transaction()
            .create('/t1', data('a'))
            .create('/t1/c')
            .setData('/t1', data('bb'), 0)
            .check('/t1', 1)
            .remove('/t1/c', -1)
            .create('/t1/s-', data(''), CreateMode.PERSISTENT_SEQUENTIAL)
            .commit((error, results) => resolve({ err: code(error), results })));
        out({ step: 'commit', err: ok.err, results: ok.results.map((r) => ({ type: r.type, path: r.path, err: r.err, stat: stat(r.stat) })) });
        const bad = await new Promise((resolve) => c.transaction()
            .create('/t2')
            .setData('/t1', data('x'), 99)
            .create('/t3')
            .commit((error, results) => resolve({ err: code(error), results })));
        out({ step: 'rolled-back', err: bad.err, results: bad.results.map((r) => ({ type: r.type, err: r.err })) });
        out({ step: 'after', t2: (await call(c, 'exists', '/t2')).values[0] !== null,
              t1: (await call(c, 'getData', '/t1')).values[0].toString() });
        const empty = await new Promise((resolve) => c.transaction()
            .commit((error, results) => resolve({ err: code(error), results })));
        out({ step: 'empty', err: empty.err, results: empty.results });
        c.close();
    },

    async acl(hosts) {
        const c = await connect(hosts);
        const alice = new ACL(Permission.ALL, new Id('digest', ALICE));
        const worldRead = new ACL(Permission.READ, new Id('world', 'anyone'));
        out({ step: 'create-secret', err: (await call(c, 'create', '/s', data('secret'), [alice])).err });
        out({ step: 'create-mixed', err: (await call(c, 'create', '/m', data('m'), [alice, worldRead])).err });
        out({ step: 'get-denied', err: (await call(c, 'getData', '/s')).err });
        out({ step: 'set-denied', err: (await call(c, 'setData', '/s', data('x'), -1)).err });
        out({ step: 'getacl-denied', err: (await call(c, 'getACL', '/s')).err });
        out({ step: 'exists-no-read', err: (await call(c, 'exists', '/s')).err });
        const masked = await call(c, 'getACL', '/m');
        out({ step: 'getacl-masked', err: masked.err, acl: acls(masked.values[0]) });
        out({ step: 'bad-acl', err: (await call(c, 'create', '/bad', [new ACL(Permission.ALL, new Id('nosuch', 'x'))])).err });
        c.addAuthInfo('digest', data('alice:secret'));
        const got = await call(c, 'getData', '/s');
        out({ step: 'get-authed', err: got.err, data: got.values[0] ? got.values[0].toString() : null });
        const acl = await call(c, 'getACL', '/s');
        out({ step: 'getacl', err: acl.err, acl: acls(acl.values[0]), stat: stat(acl.values[1]) });
        const set = await call(c, 'setACL', '/s', [alice, worldRead], 0);
        out({ step: 'setacl', err: set.err, stat: stat(set.values[0]) });
        out({ step: 'setacl-stale', err: (await call(c, 'setACL', '/s', [worldRead], 0)).err });
        out({ step: 'setacl-read-only', err: (await call(c, 'setACL', '/s', [worldRead], 1)).err });
        out({ step: 'set-no-write', err: (await call(c, 'setData', '/s', data('x'), -1)).err });
        out({ step: 'setacl-no-admin', err: (await call(c, 'setACL', '/s', [alice], -1)).err });
        const auth = await call(c, 'create', '/auth', data('a'), [new ACL(Permission.ALL, new Id('auth', ''))]);
        out({ step: 'create-auth', err: auth.err });
        const authAcl = await call(c, 'getACL', '/auth');
        out({ step: 'getacl-auth', err: authAcl.err, acl: acls(authAcl.values[0]) });
        c.close();

        // an unknown scheme fails the authentication: the server answers -115 and closes the connection
        const bad = await connect(hosts);
        const failed = new Promise((resolve) => bad.once('authenticationFailed', () => resolve('authenticationFailed')));
        bad.addAuthInfo('nosuchscheme', data('x'));
        out({ step: 'auth-failed', state: await failed });
        bad.close();
    },

    async reconnect(hosts) {
        const c = await connect(hosts);
        const events = [];
        const states = [];
        const record = (tag) => (event) => events.push({ tag, type: event.getName(), path: event.getPath() });
        c.on('state', (state) => states.push(state.getName()));
        await call(c, 'create', '/d', data('x'));
        await call(c, 'create', '/c');
        await call(c, 'getData', '/d', record('data'));
        await call(c, 'exists', '/nope', record('exists'));
        await call(c, 'getChildren', '/c', record('child'));
        await call(c, 'exists', '/late', record('late'));
        c.addAuthInfo('digest', data('alice:secret'));
        out({ step: 'ready', session: long(c.getSessionId()) });
        await waitFor(() => states.includes('DISCONNECTED'), 'DISCONNECTED');
        out({ step: 'disconnected' });
        await stdinLine(); // the test has changed things meanwhile and released the connection
        await waitFor(() => states.filter((s) => s === 'SYNC_CONNECTED').length >= 1, 'SYNC_CONNECTED');
        await waitFor(() => events.length >= 3, 'three catch-up events');
        out({ step: 'reconnected', session: long(c.getSessionId()), states });
        const who = await call(c, 'create', '/late', data('l'), [new ACL(Permission.ALL, new Id('auth', ''))]);
        out({ step: 'create-late', err: who.err }); // the auth was re-sent on the new connection
        await waitFor(() => events.some((e) => e.tag === 'late'), 'the late event');
        out({ step: 'events', events });
        c.close();
    },
};

const [scenario, hosts] = process.argv.slice(2);
scenarios[scenario](hosts).then(
    () => process.exit(0),
    (error) => {
        out({ step: 'failed', error: String(error && error.stack ? error.stack : error) });
        process.exit(1);
    },
);
