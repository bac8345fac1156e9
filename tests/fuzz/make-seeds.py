#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/<target>/ from what the project already has:
the adapters' tools.json (tool names, argument schemas), the published specs
(../shared/specs/*.json: response schemas and examples, turned into bodies), the test
fixtures' messages and configs. Run from the repository root; rerunning rewrites the seeds
(files named seed-*), never the inputs libFuzzer added. Sealed session ids are made by the
session target itself (CORTEX_FUZZ_SEED_DIR, see fuzz_session.c)."""
import glob, hashlib, json, os, random, re, sys

random.seed(14)
ROOT = os.getcwd()
SPECS = os.path.join(ROOT, '..', 'shared', 'specs')
if not os.path.isdir(SPECS):
    SPECS = '/work/shared/specs'
OUT = os.path.join(ROOT, 'tests', 'fuzz', 'corpus')


def write(target, data, tag=''):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    name = 'seed-%s%s' % (tag + '-' if tag else '', hashlib.sha1(data).hexdigest()[:12])
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def compact(v):
    return json.dumps(v, separators=(',', ':'))


# ---- example values from schemas ----

def resolve(spec, s):
    seen = 0
    while isinstance(s, dict) and '$ref' in s and seen < 20:
        path = s['$ref'].lstrip('#/').split('/')
        s = spec
        for p in path:
            s = s.get(p.replace('~1', '/').replace('~0', '~'), {})
        seen += 1
    return s if isinstance(s, dict) else {}


def example(spec, s, depth=0):
    s = resolve(spec, s)
    if 'example' in s:
        return s['example']
    if 'examples' in s and isinstance(s['examples'], list) and s['examples']:
        return s['examples'][0]
    if 'enum' in s and s['enum']:
        return s['enum'][0]
    for k in ('allOf', 'oneOf', 'anyOf'):
        if k in s and s[k]:
            if k == 'allOf':
                out = {}
                for sub in s[k]:
                    v = example(spec, sub, depth + 1)
                    if isinstance(v, dict):
                        out.update(v)
                return out
            return example(spec, s[k][0], depth + 1)
    t = s.get('type')
    if isinstance(t, list):
        t = t[0]
    if depth > 7:
        return None
    if t == 'object' or 'properties' in s:
        return {k: example(spec, v, depth + 1) for k, v in list(s.get('properties', {}).items())[:25]}
    if t == 'array':
        return [example(spec, s.get('items', {}), depth + 1)]
    if t == 'integer':
        return s.get('minimum', 100) if isinstance(s.get('minimum', 100), int) else 100
    if t == 'number':
        return 0.5
    if t == 'boolean':
        return True
    if t == 'string':
        f = s.get('format', '')
        return {'date-time': '2026-12-02T07:00:00Z', 'uuid': '0c0ffee0-0000-4000-8000-000000000001',
                'ipv4': '10.0.0.2'}.get(f, 'x')
    return None


def spec_bodies(fname):
    """(path, status, body text) for every response with a JSON schema or example."""
    spec = json.load(open(os.path.join(SPECS, fname)))
    out = []
    for path, ops in spec.get('paths', {}).items():
        for method, op in ops.items():
            if not isinstance(op, dict):
                continue
            for status, r in op.get('responses', {}).items():
                r = resolve(spec, r)
                c = r.get('content', {}).get('application/json', {})
                if 'example' in c:
                    body = c['example']
                elif 'schema' in c:
                    body = example(spec, c['schema'])
                else:
                    continue
                st = int(status) if status.isdigit() else 200
                out.append((method.upper() + ' ' + path, st, compact(body)))
    return out


# ---- tool arguments from input schemas ----

NAMES = {'node': 'pve', 'vmid': 100, 'zone': 'example.com', 'zone_id': '023e105f4ecef8ad9ca31a8372d0c353',
         'record_id': '372e67954025e0ba6aaa6d586b9e0b59', 'type': 'A', 'content': '192.0.2.1', 'ttl': 300,
         'name': 'web', 'namespace': 'default', 'kind': 'pods', 'resource': 'pods', 'site': 'default',
         'device': 'aa:bb:cc:dd:ee:ff', 'host_id': '1', 'id': '1', 'upid': 'UPID:pve:00001234:00005678:6543210A:qmstart:100:root@pam:',
         'action': 'start', 'replicas': 2, 'command': 'uptime', 'query': 'select 1', 'manifest': 'kind: ConfigMap\napiVersion: v1\nmetadata:\n  name: a\n'}


def arg_value(name, s):
    if 'enum' in s and s['enum']:
        return s['enum'][0]
    if name in NAMES:
        v = NAMES[name]
        t = s.get('type')
        if (t == 'integer' and isinstance(v, int)) or (t == 'string' and isinstance(v, str)) or not t:
            return v
    t = s.get('type')
    if isinstance(t, list):
        t = t[0]
    if t == 'integer':
        return s.get('minimum', 1)
    if t == 'number':
        return 1
    if t == 'boolean':
        return False
    if t == 'array':
        return []
    if t == 'object':
        return {}
    return 'x'


def args_variants(schema):
    props = schema.get('properties', {})
    req = schema.get('required', [])
    minimal = {k: arg_value(k, props.get(k, {})) for k in req}
    full = dict(minimal)
    for k, v in props.items():
        full.setdefault(k, arg_value(k, v))
    return [minimal, full] if full != minimal else [minimal]


def tool_seeds(target, tools_json, bodies, extra_sections=(), per_tool=6):
    tools = json.load(open(tools_json))
    for t in tools:
        for args in args_variants(t.get('inputSchema', {})):
            picks = random.sample(bodies, min(per_tool, len(bodies)))
            for i, (_, st, body) in enumerate(picks):
                sections = list(extra_sections) + ['@@ %d\n%s' % (st if i % 3 == 0 else 200, body)]
                if i % 2:
                    sections.append('@@ 200\n' + random.choice(bodies)[2])
                write(target, t['name'] + '\n' + compact(args) + '\n' + '\n'.join(sections), t['name'])


def adapters():
    px = spec_bodies('proxmox-pve-subset-api2json.json')
    px += [('', 200, '{"data":"UPID:pve:00001234:00005678:6543210A:qmstart:100:root@pam:"}'),
           ('', 200, '{"data":{"status":"stopped","exitstatus":"OK","type":"qmstart","node":"pve"}}'),
           ('', 401, '{"data":null,"message":"authentication failure"}')]
    tool_seeds('proxmox', 'adapters/proxmox/tools.json', px)
    cf = spec_bodies('cloudflare-zones-dns.json')
    cf += [('', 403, '{"success":false,"errors":[{"code":9109,"message":"Invalid access token"}],"messages":[],"result":null}')]
    tool_seeds('cloudflare', 'adapters/cloudflare/tools.json', cf)
    un = spec_bodies('unifi-integration-subset.json')
    tool_seeds('unifi_integration', 'adapters/unifi/tools.json', un)
    legacy = [('', 200, '{"meta":{"rc":"ok"},"data":[{"_id":"5f1","name":"default","desc":"Default"}]}'),
              ('', 200, '{"meta":{"rc":"ok"},"data":[{"_id":"d1","mac":"aa:bb:cc:dd:ee:ff","name":"ap","model":"U6-Lite","state":1,"type":"uap","ip":"10.0.0.5","uptime":3600,"version":"6.6.55"}]}'),
              ('', 200, '{"meta":{"rc":"ok"},"data":[{"mac":"11:22:33:44:55:66","hostname":"laptop","ip":"10.0.0.9","is_wired":false,"uptime":60}]}'),
              ('', 401, '{"meta":{"rc":"error","msg":"api.err.LoginRequired"},"data":[]}')]
    login = '@@ 200\n@h Set-Cookie: TOKEN=fuzzcookie; path=/; HttpOnly\n@h X-CSRF-Token: fuzzcsrf\n{"meta":{"rc":"ok"},"data":[]}'
    tool_seeds('unifi_legacy', 'adapters/unifi/tools.json', legacy, extra_sections=[login])
    k8s = spec_bodies('k8s-core-apps-subset.json')
    k8s += [('', 404, '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \\"web\\" not found","reason":"NotFound","details":{"name":"web","kind":"pods"},"code":404}'),
            ('', 200, '{"kind":"APIResourceList","groupVersion":"v1","resources":[{"name":"pods","singularName":"pod","namespaced":true,"kind":"Pod","verbs":["get","list","delete"],"shortNames":["po"]}]}')]
    tool_seeds('kubectl', 'adapters/kubectl/tools.json', k8s)
    sf = [('', 200, '{"access_token":"sf.a.fuzz","refresh_token":"sf.r.fuzz"}'),
          ('', 200, '{"data":[{"host_id":"1","hostname":"web-1","ip":"10.0.0.2","active":true,"last_seen":"2026-12-02T07:00:00Z"}],"total":1,"more_results":false}'),
          ('', 200, '{"data":[{"id":1,"host_id":"1","sandfly_name":"process_running_deleted","status":"alert","severity":3,"data":{"end_time":"2026-12-02T07:00:00Z"}}],"total":1}'),
          ('', 202, '{"status":202,"detail":"Scan request accepted for processing.","data":"run-1"}'),
          ('', 401, '{"status":401,"detail":"token expired","data":""}')]
    login = '@@ 200\n{"access_token":"sf.a.fuzz","refresh_token":"sf.r.fuzz"}'
    tool_seeds('sandfly', 'adapters/sandfly/tools.json', sf, extra_sections=[login])


# ---- the protocol and the rest ----

def mcp():
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {"sampling": {}}, "clientInfo": {"name": "fuzz", "version": "1"}}}
    msgs = [('f', init), ('i', {"jsonrpc": "2.0", "method": "notifications/initialized"}),
            ('i', {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
            ('i', {"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {"cursor": "abc"}}),
            ('i', {"jsonrpc": "2.0", "id": 4, "method": "resources/list"}),
            ('i', {"jsonrpc": "2.0", "id": 5, "method": "resources/templates/list"}),
            ('i', {"jsonrpc": "2.0", "id": 6, "method": "prompts/list"}),
            ('i', {"jsonrpc": "2.0", "id": 7, "method": "ping"}),
            ('i', {"jsonrpc": "2.0", "id": 8, "method": "logging/setLevel", "params": {"level": "debug"}}),
            ('i', {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3}}),
            ('i', {"jsonrpc": "2.0", "id": 9, "method": "completion/complete", "params": {"ref": {"type": "ref/prompt", "name": "testkit_greet"}, "argument": {"name": "name", "value": "a"}}}),
            ('i', {"jsonrpc": "2.0", "id": "x", "method": "nope"}),
            ('i', {"jsonrpc": "1.0", "id": 1, "method": "ping"}),
            ('i', {"id": None, "method": 5}),
            ('s', {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientInfo": {"name": "fuzz", "version": "1"}, "io.modelcontextprotocol/clientCapabilities": {}}}}),
            ('s', {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "testkit_echo", "arguments": {"text": "hi"}, "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}}),
            ('s', {"jsonrpc": "2.0", "id": 3, "method": "server/discover", "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}})]
    tools = json.load(open('tests/adapters/testkit.json')) + json.load(open('adapters/gateway/tools.json'))
    for t in tools:
        for args in args_variants(t.get('inputSchema', {})):
            msgs.append(('i', {"jsonrpc": "2.0", "id": 10, "method": "tools/call", "params": {"name": t['name'], "arguments": args}}))
            msgs.append(('i', {"jsonrpc": "2.0", "id": 11, "method": "tools/call", "params": {"name": t['name'], "arguments": args, "_meta": {"progressToken": "p1"}}}))
    for kind, m in msgs:
        write('mcp', kind + compact(m))
    for i in range(0, len(msgs) - 3, 4):
        write('mcp', 'i' + compact([m for _, m in msgs[i:i + 4]]), 'batch')
    write('mcp', 'i[]', 'batch')
    for kind, m in msgs[:20]:
        write('json', compact(m))
    write('json', '[1,2,[3,4],{"a":[5]},"x,y","\\"",-0.5e10,true,false,null]')
    write('json', '{"a":"\\u00e9\\ud83d\\ude00\\u0000","b":{}}')


def schema():
    inst = ['{}', '{"name":"web","vmid":100}', '[]', '"x"', '42', 'null', '{"a":[1,2,3],"b":{"c":true}}']
    for f in glob.glob('adapters/*/tools.json') + ['tests/adapters/testkit.json']:
        for t in json.load(open(f)):
            s = t.get('inputSchema')
            if not s:
                continue
            for args in args_variants(s):
                write('schema', compact(s) + '\n' + compact(args))
            write('schema', compact(s) + '\n' + random.choice(inst))
            if 'outputSchema' in t:
                write('schema', compact(t['outputSchema']) + '\n' + random.choice(inst))


def headers():
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "testkit_echo", "arguments": {"text": "hi"}, "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}}
    sets = [
        ['Host: localhost:8080', 'Origin: http://localhost:3000', 'Accept: application/json, text/event-stream',
         'Content-Type: application/json; charset=utf-8', 'MCP-Protocol-Version: 2026-07-28', 'Mcp-Method: tools/call',
         'Mcp-Name: testkit_echo'],
        ['Host: [::1]:8443', 'Origin: https://app.example', 'Accept: text/*;q=0, */*', 'Last-Event-ID: 1f-42',
         'Mcp-Name: =?base64?dGVzdGtpdF9lY2hv?=', 'Mcp-Method: tools/call', 'MCP-Protocol-Version: 2026-07-28'],
        ['Host: mcp.example.com', 'Accept: application/json;q=0.5', 'Allow: GET, HEAD, POST', 'Mcp-Param-Text: hi',
         'Last-Event-ID: ffffffffffffffff-18446744073709551615', 'MCP-Protocol-Version: 2025-06-18'],
        ['Host: 127.0.0.1', 'Origin: null', 'Content-Type: text/plain', 'Mcp-Param-X: =?base64?====?='],
    ]
    for hs in sets:
        write('http_headers', '\n'.join(hs) + '\n\n' + compact(body))
        write('http_headers', '\n'.join(hs) + '\n\n' + compact({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}}))


def yaml_seeds():
    kc = '''apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUI=
    insecure-skip-tls-verify: false
- name: prod
  cluster:
    server: https://k8s.example:443
users:
- name: dev
  user:
    token: abc
- name: ci
  user:
    tokenFile: token
    client-certificate-data: Zm9v
    client-key-data: YmFy
- name: plugin
  user:
    exec:
      command: aws
contexts:
- name: dev
  context:
    cluster: dev
    user: dev
    namespace: apps
- name: prod
  context:
    cluster: prod
    user: ci
'''
    for t in ('yaml', 'kubeconfig'):
        write(t, kc)
        write(t, kc.replace('current-context: dev', 'current-context: prod'))
    docs = ['a: 1\nb: [x, y]\nc: {d: "e"}\n', '---\nkind: ConfigMap\napiVersion: v1\nmetadata:\n  name: a\ndata:\n  k: v\n---\nkind: Service\n',
            'anchors: &a {x: 1}\nref: *a\n', 'n: ~\nt: true\nf: 1.5e3\ns: "multi\\nline"\nlit: |\n  a\n  b\n', '- - - a\n', 'key: !!binary aGVsbG8=\n']
    for d in docs:
        write('yaml', d)
    for f in glob.glob('tests/integration/fixtures/*.yaml') + glob.glob('manifests/**/*.yaml', recursive=True):
        write('yaml', open(f, 'rb').read())


def llm():
    anth = {"id": "msg_1", "type": "message", "role": "assistant", "model": "fuzz-model",
            "content": [{"type": "text", "text": "Checking."}, {"type": "tool_use", "id": "toolu_1", "name": "proxmox_list_vms", "input": {}},
                        {"type": "thinking", "thinking": "hm", "signature": "s"}],
            "stop_reason": "tool_use", "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 5}}
    write('llm_anthropic', '@@ 200\n' + compact(anth))
    anth2 = dict(anth, content=[{"type": "text", "text": "Done."}], stop_reason="end_turn")
    write('llm_anthropic', '@@ 200\n' + compact(anth2))
    write('llm_anthropic', '@@ 200\n' + compact(dict(anth2, stop_reason="stop_sequence", stop_sequence="###")))
    write('llm_anthropic', '@@ 429\n{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}')
    write('llm_anthropic', '@@ 400\n{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: field required"}}')
    write('llm_anthropic', '@@ 529\n{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}')
    oai = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1764650000, "model": "fuzz-model",
           "choices": [{"index": 0, "message": {"role": "assistant", "content": "Checking.", "tool_calls": [
               {"id": "call_1", "type": "function", "function": {"name": "proxmox_list_vms", "arguments": "{}"}}]}, "finish_reason": "tool_calls"}],
           "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}
    write('llm_openai', '@@ 200\n' + compact(oai))
    oai2 = dict(oai, choices=[{"index": 0, "message": {"role": "assistant", "content": "Done."}, "finish_reason": "stop"}])
    write('llm_openai', '@@ 200\n' + compact(oai2))
    write('llm_openai', '@@ 200\n' + compact(dict(oai, choices=[{"index": 0, "message": {"role": "assistant", "content": None, "refusal": "no"}, "finish_reason": "length"}])))
    write('llm_openai', '@@ 429\n{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}')
    write('llm_openai', '@@ 401\n{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}')


def tasks_and_config():
    task = {"id": "t-1", "status": "queued", "category": "ops", "source": "fuzz", "priority": 2, "title": "Check the VMs",
            "attempts": 0, "metadata": {"created_at": "2026-12-02T07:00:00.000Z", "updated_at": "2026-12-02T07:00:00.000Z"}}
    write('taskfile', json.dumps(task, indent=1))
    write('taskfile', compact(dict(task, status="in_progress", parent_id="t-0", metadata=dict(task["metadata"], lease_until="2026-12-02T07:00:30.000Z", claimed_by="w1"))))
    write('taskfile', compact(dict(task, status="done", result={"ok": True})))
    write('taskfile', compact(dict(task, status="failed", error="boom", attempts=3)))
    for f in glob.glob('tests/unit/*.c'):
        pass
    confs = [{"listen": "127.0.0.1:8080", "calls": {"timeout_ms": 30000, "workers": 8, "queue_max": 256, "max_batch": 64},
              "tokens": [{"name": "ops", "sha256": "0" * 64, "allow": ["proxmox_*"], "read_only": True}],
              "http": {"allowed_origins": ["https://app.example"], "allowed_hosts": ["mcp.example.com"], "max_connections_per_client": 256},
              "log_level": "info", "audit": {"file": "audit.log"}, "adapters": {"proxmox": {"url": "https://pve:8006"}}},
             {"session_key": {"env": "CORTEX_SESSION_KEY"}, "sessions": {"ttl_s": 3600}}, {}]
    for c in confs:
        write('config', json.dumps(c, indent=1))
    for f in glob.glob('manifests/examples/*.json') + glob.glob('docs/*.json'):
        write('config', open(f, 'rb').read())
    for doc in glob.glob('docs/CONFIG.md') + glob.glob('README.md') + glob.glob('docs/OPERATIONS.md'):
        for block in re.findall(r'```json\n(.*?)```', open(doc).read(), re.S):
            try:
                json.loads(block)
            except ValueError:
                continue
            write('config', block)


def rest():
    """The REST routes (fuzz_rest.c): "METHOD /v1/PATH?QUERY", a newline, the body."""
    def req(line, body=''):
        write('rest', line + '\n' + body)
    for path in ('openapi.json', 'tools', 'tasks', 'tools/', 'tasks/', 'nope', 'tools/a/b',
                 'tasks/t-1/events/x', 'tasks/t-1/other', 'openapi.json/', 'TOOLS'):
        for m in ('GET', 'POST', 'DELETE', 'HEAD', 'OPTIONS'):
            if m in ('GET', 'POST') or path in ('tasks', 'tools/x'):
                req('%s /v1/%s' % (m, path))
    tools = json.load(open('adapters/cortex/tools.json'))[:3] + json.load(open('tests/adapters/testkit.json'))[:4]
    for t in tools:
        for args in args_variants(t.get('inputSchema', {}))[:1]:
            req('POST /v1/tools/' + t['name'], compact(args))
    req('POST /v1/tools/testkit_echo', '')
    req('POST /v1/tools/testkit%5Fecho', '{"text":"hi"}')
    req('POST /v1/tools/caf%C3%A9', '{}')
    req('POST /v1/tools/' + 'x' * 127, '{}')
    req('POST /v1/tools/' + 'x' * 128, '{}')
    req('POST /v1/tools/a%2Fb', '{}')
    req('POST /v1/tools/testkit_echo', '[1,2]')
    req('POST /v1/tools/testkit_echo', '{"text": "unterminated')
    req('POST /v1/tools/testkit_echo', '"a string"')
    req('POST /v1/tasks', compact({"query": "What VMs run on pve1?", "category": "infrastructure", "priority": 2}))
    req('POST /v1/tasks', compact({"tasks": [{"query": "a"}, {"query": "b", "category": "security"}]}))
    req('POST /v1/tasks', compact({"query": ""}))
    req('POST /v1/tasks', '{"query":"x","priority":"high"}')
    for q in ('status=queued', 'status=queued&category=infrastructure&limit=10',
              'limit=5&limit=7', 'limit=-1', 'limit=99999999999999999999', 'limit=0x10', 'limit=%2B5',
              'since=2026-01-05T10%3A00%3A00Z', 'since=2026-01-05T10:00:00.123%2B02:00',
              'source=api&parent_id=task-1', 'parent_id=a%20b', 'unknown=1', 'status',
              'status=&category=', '&&', 'a=b=c', 'q=%zz%4', 'q=caf%C3%A9', 'q=%FF%FE',
              'status=in%5Fprogress', 'status=in+progress', 'cursor=abc&limit=2',
              'status=queued%00x', '%00=1', 'limit=10&include_conversation=true'):
        req('GET /v1/tasks?' + q)
    for tid in ('t-1', 'task-20261202-abc', 'a.b:c_d-e', '%2E%2E', 'caf%C3%A9', '%FF', 'x' * 127, 'x' * 130, 'a%00b', 't-1%2Fevents'):
        req('GET /v1/tasks/' + tid)
        req('GET /v1/tasks/' + tid + '/events')
    req('POST /v1/tasks/t-1')
    req('DELETE /v1/tasks/t-1/events')


if __name__ == '__main__':
    for fn in (adapters, mcp, schema, headers, yaml_seeds, llm, tasks_and_config, rest):
        fn()
