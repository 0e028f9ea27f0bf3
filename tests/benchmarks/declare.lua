-- wrk script: keep-alive PUT declarations with a bearer token.
-- BENCH_TOKEN: the token; BENCH_MODE: "same" (an unchanged redeclaration, the
-- common case) or "change" (every request flips a site's active account).
local token = os.getenv("BENCH_TOKEN") or ""
local mode = os.getenv("BENCH_MODE") or "same"
local headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
local function body(first, second)
  return '{"sessions":[{"email":"' .. first .. '@example.com","bound_to":{"type":"cookie",'
    .. '"cookie_name":"SID"}},{"email":"' .. second .. '@example.com","status":"passive"}],'
    .. '"cookies":["SID"],"focused":false}'
end
local A = body("alice", "bob")
local B = body("bob", "alice")
local SITES = 50
counter = 0
tid = 0
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
end

function request()
  counter = counter + 1
  if mode == "same" then
    return wrk.format("PUT", "/v1/sites/same.example/declaration", headers, A)
  end
  local site = "t" .. tid .. "s" .. (counter % SITES) .. ".example"
  local b = A
  if math.floor(counter / SITES) % 2 == 1 then b = B end
  return wrk.format("PUT", "/v1/sites/" .. site .. "/declaration", headers, b)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"status_errors":%d,"other_errors":%d,'
    .. '"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
