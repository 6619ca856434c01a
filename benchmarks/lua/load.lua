-- The load of one benchmark target, for wrk (benchmarks/run.py writes its settings to the environment).
--
--   BENCH_METHOD   GET or POST
--   BENCH_PATH     the request path, e.g. /token
--   BENCH_BODY     the POST body (form-encoded); "{value}" in it is replaced by a value of the pool
--   BENCH_POOL     a file with one value a line (refresh tokens, access tokens, device codes), optional
--   BENCH_STATUS   the status every answer must have (200; 400 for device polling)
--   BENCH_MATCH    Lua patterns separated by "|": the body must match one of them (optional)
--
-- HTTP Basic comes from wrk's -H option. Each wrk thread (run.py starts one per connection) takes its
-- own share of the pool and goes round it, so with one value per connection every request in flight
-- uses a different one (for refresh: each request refreshes a grant of its own).
-- An answer with another status, or a body matching none of the patterns, is counted as unexpected;
-- at the end one line "GRIDAUTH_BENCH {json}" gives the counts and the latency percentiles (µs).

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

local requests = {}
local next_request = 1
local expected_status = tonumber(os.getenv("BENCH_STATUS") or "200")
local patterns = {}
unexpected = 0
example = ""

local function read_pool(path)
  local values = {}
  for line in io.lines(path) do
    if line ~= "" then table.insert(values, line) end
  end
  if #values == 0 then error("empty pool " .. path) end
  return values
end

function init(args)
  local method = os.getenv("BENCH_METHOD") or "GET"
  local path = os.getenv("BENCH_PATH") or "/"
  local body = os.getenv("BENCH_BODY")
  local pool_path = os.getenv("BENCH_POOL")
  local match = os.getenv("BENCH_MATCH")
  if match and match ~= "" then
    for p in string.gmatch(match, "[^|]+") do table.insert(patterns, p) end
  end
  local headers = {}  -- wrk.format takes these instead of wrk.headers (-H), not beside them
  for name, value in pairs(wrk.headers) do headers[name] = value end
  if body then headers["Content-Type"] = "application/x-www-form-urlencoded" end
  local values = { "" }
  if pool_path and pool_path ~= "" then
    local pool = read_pool(pool_path)
    local total = tonumber(os.getenv("BENCH_THREADS") or "1")
    values = {}
    for k = id, #pool, total do table.insert(values, pool[k]) end
    if #values == 0 then values = { pool[(id - 1) % #pool + 1] } end
  end
  for _, value in ipairs(values) do
    local text = body and string.gsub(body, "{value}", function() return value end) or nil
    table.insert(requests, wrk.format(method, path, headers, text))
  end
end

function request()
  local r = requests[next_request]
  next_request = next_request % #requests + 1
  return r
end

function response(status, headers, body)
  local ok = status == expected_status
  if ok and #patterns > 0 then
    ok = false
    for _, p in ipairs(patterns) do
      if body and string.find(body, p) then ok = true break end
    end
  end
  if not ok then
    unexpected = unexpected + 1
    if example == "" then example = status .. " " .. string.sub(body or "", 1, 300) end
  end
end

local function json_string(s)
  s = string.gsub(s, '[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end)
  return '"' .. s .. '"'
end

function done(summary, latency, requests)
  local bad, first = 0, ""
  for _, thread in ipairs(threads) do
    bad = bad + (thread:get("unexpected") or 0)
    local e = thread:get("example") or ""
    if first == "" then first = e end
  end
  local e = summary.errors
  io.write(string.format(
    'GRIDAUTH_BENCH {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
      .. '"status": %d, "timeout": %d, "unexpected": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, '
      .. '"example": %s}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout, bad,
    latency:percentile(50), latency:percentile(99), latency.max, json_string(first)))
end
