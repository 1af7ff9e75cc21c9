// One streaming OpenAI Responses request with the official openai SDK, as a real application makes it.
// Usage: node openai-responses.mjs <stream|create> '<JSON of extra params>'
//   stream: client.responses.stream(...) and finalResponse() (the SDK's accumulating helper)
//   create: client.responses.create({stream: true}) and iterating the raw events; an `error` or
//           `response.failed` event is raised as an error, as the API reference tells applications to
// Env: OPENAI_BASE_URL (e.g. http://127.0.0.1:PORT/v1), OPENAI_API_KEY, TOKENPIPE_MAX_RETRIES (default 0).
// Prints one JSON object on stdout and exits 0, whatever happened; the JUnit side asserts on it:
//   {ok, status, events[type], text, reasoning, functionCalls[{name, arguments}], responseStatus, usage,
//    outputTypes[], elapsedMs, error{name, status, type, code, message, isApiError}}
import OpenAI from 'openai';

const mode = process.argv[2] ?? 'stream';
const params = { model: 'tokenpipe-sim', input: 'hi', ...JSON.parse(process.argv[3] ?? '{}') };
const client = new OpenAI({ maxRetries: Number(process.env.TOKENPIPE_MAX_RETRIES ?? '0'), timeout: 30_000 });
const started = Date.now();
const out = { ok: false, status: null, events: [], text: '', reasoning: '', functionCalls: [], responseStatus: null,
  usage: null, outputTypes: [], elapsedMs: 0, error: null };

function finalResponse(response) {
  out.responseStatus = response.status;
  out.usage = response.usage;
  out.outputTypes = response.output.map((item) => item.type);
  for (const item of response.output) {
    if (item.type === 'function_call') out.functionCalls.push({ name: item.name, arguments: item.arguments });
  }
}

try {
  if (mode === 'stream') {
    const stream = client.responses.stream(params);
    stream.on('event', (event) => out.events.push(event.type));
    stream.on('response.output_text.delta', (event) => { out.text += event.delta; });
    stream.on('response.reasoning_summary_text.delta', (event) => { out.reasoning += event.delta; });
    finalResponse(await stream.finalResponse());
  } else {
    const { data: stream, response } = await client.responses.create({ ...params, stream: true }).withResponse();
    out.status = response.status;
    for await (const event of stream) {
      out.events.push(event.type);
      if (event.type === 'response.output_text.delta') out.text += event.delta;
      if (event.type === 'response.reasoning_summary_text.delta') out.reasoning += event.delta;
      if (event.type === 'error') {
        throw Object.assign(new Error(event.message), { type: 'error', code: event.code, name: 'StreamErrorEvent' });
      }
      if (event.type === 'response.failed') {
        throw Object.assign(new Error(event.response?.error?.message ?? 'response.failed'),
          { type: 'response.failed', code: event.response?.error?.code, name: 'StreamErrorEvent' });
      }
      if (event.type === 'response.completed' || event.type === 'response.incomplete') finalResponse(event.response);
    }
    if (out.responseStatus === null) {
      throw new Error('stream ended without response.completed');
    }
  }
  out.ok = true;
} catch (e) {
  out.error = {
    name: e?.constructor?.name === 'Error' && e.name ? e.name : (e?.constructor?.name ?? typeof e),
    status: e?.status ?? null,
    type: e?.type ?? e?.error?.type ?? null,
    code: e?.code ?? e?.error?.code ?? null,
    message: String(e?.message ?? e),
    isApiError: e instanceof OpenAI.APIError,
  };
}
out.elapsedMs = Date.now() - started;
process.stdout.write(JSON.stringify(out) + '\n');
