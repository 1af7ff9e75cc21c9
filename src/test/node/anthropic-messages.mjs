// One streaming Anthropic Messages request with the official @anthropic-ai/sdk, as a real application makes it.
// Usage: node anthropic-messages.mjs <stream|create> '<JSON of extra params>'
//   stream: client.messages.stream(...) and finalMessage() (the SDK's accumulating helper)
//   create: client.messages.create({stream: true}) and iterating the raw events
// Env: ANTHROPIC_BASE_URL (e.g. http://127.0.0.1:PORT), ANTHROPIC_API_KEY, TOKENPIPE_MAX_RETRIES (default 0).
// Prints one JSON object on stdout and exits 0, whatever happened; the JUnit side asserts on it:
//   {ok, status, headers{lower-case name: value} (create only), events[type], text, thinking, signature, toolUses[{name, input}], stopReason,
//    usage{input_tokens, output_tokens}, elapsedMs, error{name, status, type, message, isApiError}}
import Anthropic from '@anthropic-ai/sdk';

const mode = process.argv[2] ?? 'stream';
const params = {
  model: 'tokenpipe-sim', max_tokens: 4096, messages: [{ role: 'user', content: 'hi' }],
  ...JSON.parse(process.argv[3] ?? '{}'),
};
const client = new Anthropic({ maxRetries: Number(process.env.TOKENPIPE_MAX_RETRIES ?? '0'), timeout: 30_000 });
const started = Date.now();
const out = { ok: false, status: null, headers: {}, events: [], text: '', thinking: '', signature: '', toolUses: [],
  stopReason: null, usage: null, elapsedMs: 0, error: null };

try {
  if (mode === 'stream') {
    const stream = client.messages.stream(params);
    stream.on('streamEvent', (event) => out.events.push(event.type));
    const message = await stream.finalMessage();
    for (const block of message.content) {
      if (block.type === 'text') out.text += block.text;
      if (block.type === 'thinking') { out.thinking += block.thinking; out.signature = block.signature; }
      if (block.type === 'tool_use') out.toolUses.push({ name: block.name, input: block.input });
    }
    out.stopReason = message.stop_reason;
    out.usage = message.usage;
  } else {
    const { data: stream, response } = await client.messages.create({ ...params, stream: true }).withResponse();
    out.status = response.status;
    response.headers.forEach((value, name) => { out.headers[name.toLowerCase()] = value; });
    const partial = {};
    for await (const event of stream) {
      out.events.push(event.type);
      if (event.type === 'message_start') out.usage = event.message.usage;
      if (event.type === 'content_block_start' && event.content_block.type === 'tool_use') {
        partial[event.index] = { name: event.content_block.name, json: '' };
      }
      if (event.type === 'content_block_delta') {
        const d = event.delta;
        if (d.type === 'text_delta') out.text += d.text;
        if (d.type === 'thinking_delta') out.thinking += d.thinking;
        if (d.type === 'signature_delta') out.signature = d.signature;
        if (d.type === 'input_json_delta') partial[event.index].json += d.partial_json;
      }
      if (event.type === 'content_block_stop' && partial[event.index]) {
        const p = partial[event.index];
        out.toolUses.push({ name: p.name, input: JSON.parse(p.json) });
      }
      if (event.type === 'message_delta') {
        out.stopReason = event.delta.stop_reason;
        out.usage = { ...out.usage, output_tokens: event.usage.output_tokens };
      }
    }
    if (out.events.at(-1) !== 'message_stop') {
      throw new Error('stream ended without message_stop');
    }
  }
  out.ok = true;
} catch (e) {
  out.error = {
    name: e?.constructor?.name ?? typeof e,
    status: e?.status ?? null,
    type: e?.type ?? e?.error?.error?.type ?? e?.error?.type ?? null,
    message: String(e?.message ?? e),
    isApiError: e instanceof Anthropic.APIError,
  };
}
out.elapsedMs = Date.now() - started;
process.stdout.write(JSON.stringify(out) + '\n');
