// What an application sees from one official SDK call: the same script is pointed at an upstream directly and
// through `serve`, and the JUnit side compares the two (GatewaySdkSurfaceTest).
// Usage: node sdk-surface.mjs <call> '<JSON of extra params>'
//   openai-chat-stream      chat.completions.create({stream: true}), iterating the chunks
//   openai-chat             chat.completions.create() without stream
//   openai-responses-stream responses.create({stream: true}), iterating the events
//   anthropic-create        messages.create({stream: true}), iterating the raw events
//   anthropic-stream        messages.stream() helper and finalMessage()
// Env: OPENAI_BASE_URL / ANTHROPIC_BASE_URL, OPENAI_API_KEY / ANTHROPIC_API_KEY, TOKENPIPE_MAX_RETRIES (default 2),
//   TOKENPIPE_TIMEOUT_MS (default 30000).
// Prints one JSON object on stdout and exits 0, whatever happened:
//   {ok, attempts (HTTP requests the SDK made: 1 + its retries), text, events, requestId (of the answer, from its
//    headers), ended ('clean' | 'threw'), elapsedMs, error{name, status, requestID, type, code, message, isApiError}}
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

const call = process.argv[2];
const params = JSON.parse(process.argv[3] ?? '{}');
const out = { ok: false, attempts: 0, text: '', events: 0, requestId: null, ended: null, elapsedMs: 0, error: null };
// Counts the SDK's own HTTP requests, so its retries are seen from the client's side.
const countingFetch = (...args) => { out.attempts++; return fetch(...args); };
const options = {
  maxRetries: Number(process.env.TOKENPIPE_MAX_RETRIES ?? '2'),
  timeout: Number(process.env.TOKENPIPE_TIMEOUT_MS ?? '30000'),
  fetch: countingFetch,
};
const started = Date.now();
const messages = [{ role: 'user', content: 'hi' }];

try {
  if (call.startsWith('openai')) {
    const client = new OpenAI(options);
    if (call === 'openai-chat') {
      const { data, response } = await client.chat.completions
        .create({ model: 'tokenpipe-test', messages, ...params }).withResponse();
      out.requestId = response.headers.get('x-request-id');
      out.text = data.choices?.[0]?.message?.content ?? '';
    } else if (call === 'openai-chat-stream') {
      const { data: stream, response } = await client.chat.completions
        .create({ model: 'tokenpipe-test', messages, stream: true, ...params }).withResponse();
      out.requestId = response.headers.get('x-request-id');
      for await (const chunk of stream) {
        out.events++;
        out.text += chunk.choices?.[0]?.delta?.content ?? '';
      }
    } else {
      const { data: stream, response } = await client.responses
        .create({ model: 'tokenpipe-test', input: 'hi', stream: true, ...params }).withResponse();
      out.requestId = response.headers.get('x-request-id');
      for await (const event of stream) {
        out.events++;
        if (event.type === 'response.output_text.delta') out.text += event.delta;
      }
    }
  } else {
    const client = new Anthropic(options);
    const body = { model: 'tokenpipe-test', max_tokens: 64, messages, ...params };
    if (call === 'anthropic-create') {
      const { data: stream, response } = await client.messages.create({ ...body, stream: true }).withResponse();
      out.requestId = response.headers.get('request-id');
      for await (const event of stream) {
        out.events++;
        if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') out.text += event.delta.text;
      }
    } else {
      const stream = client.messages.stream(body);
      stream.on('streamEvent', () => { out.events++; });
      stream.on('text', (delta) => { out.text += delta; });
      const { response } = await stream.withResponse();
      out.requestId = response.headers.get('request-id');
      await stream.finalMessage();
    }
  }
  out.ok = true;
  out.ended = 'clean';
} catch (e) {
  out.ended = 'threw';
  out.error = {
    name: e?.constructor?.name ?? typeof e,
    status: e?.status ?? null,
    requestID: e?.requestID ?? null,
    type: e?.type ?? e?.error?.error?.type ?? e?.error?.type ?? null,
    code: e?.code ?? e?.error?.code ?? null,
    message: String(e?.message ?? e),
    isApiError: e instanceof OpenAI.APIError || e instanceof Anthropic.APIError,
  };
}
out.elapsedMs = Date.now() - started;
process.stdout.write(JSON.stringify(out) + '\n');
