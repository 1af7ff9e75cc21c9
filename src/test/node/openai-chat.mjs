// One streaming chat completion with the official openai SDK, as a real application would make it.
// Usage: node openai-chat.mjs '<JSON of extra create() params>'
// Env: OPENAI_BASE_URL (e.g. http://127.0.0.1:PORT/v1), OPENAI_API_KEY, TOKENPIPE_MAX_RETRIES (default 2).
// Prints one JSON object on stdout and exits 0, whatever happened; the JUnit side asserts on it:
//   {ok, status, headers{lower-case name: value}, chunks, content, reasoning, toolCalls[{name, arguments}],
//    finishReason, elapsedMs, error{name, status, message, type, code, isApiError, isSyntaxError}}
import OpenAI from 'openai';

const params = JSON.parse(process.argv[2] ?? '{}');
const client = new OpenAI({
  maxRetries: Number(process.env.TOKENPIPE_MAX_RETRIES ?? '2'),
  timeout: 30_000,
});
const started = Date.now();
const out = { ok: false, status: null, headers: {}, chunks: 0, content: '', reasoning: '', toolCalls: [],
  finishReason: null, elapsedMs: 0, error: null };

try {
  const { data: stream, response } = await client.chat.completions
    .create({ model: 'tokenpipe-test', messages: [{ role: 'user', content: 'hi' }], stream: true, ...params })
    .withResponse();
  out.status = response.status;
  response.headers.forEach((value, name) => { out.headers[name.toLowerCase()] = value; });
  for await (const chunk of stream) {
    out.chunks++;
    const choice = chunk.choices?.[0];
    const delta = choice?.delta ?? {};
    out.content += delta.content ?? '';
    out.reasoning += delta.reasoning_content ?? delta.reasoning ?? '';
    for (const call of delta.tool_calls ?? []) {
      const slot = out.toolCalls[call.index ?? 0] ??= { name: '', arguments: '' };
      slot.name += call.function?.name ?? '';
      slot.arguments += call.function?.arguments ?? '';
    }
    if (choice?.finish_reason) {
      out.finishReason = choice.finish_reason;
    }
  }
  out.ok = true;
} catch (e) {
  out.error = {
    name: e?.constructor?.name ?? typeof e,
    status: e?.status ?? null,
    message: String(e?.message ?? e),
    type: e?.type ?? e?.error?.type ?? null,
    code: e?.code ?? e?.error?.code ?? null,
    isApiError: e instanceof OpenAI.APIError,
    isSyntaxError: e instanceof SyntaxError,
  };
}
out.elapsedMs = Date.now() - started;
process.stdout.write(JSON.stringify(out) + '\n');
