-- wrk script: each connection streams from the simple token API, one request after another.
wrk.method = "POST"
wrk.body   = '{"prompt":"Tell me a story"}'
wrk.headers["Content-Type"] = "application/json"
