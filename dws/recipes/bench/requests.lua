-- wrk script for every benchmark target: builds each request, counts
-- non-2xx answers, and prints one JSON line of results at the end.
--
--   wrk ... -s requests.lua URL -- MODE [ARG]
--   MODE path   ARG = a fixed path            (static, hello, page)
--   MODE lookup ARG = path prefix for an id    (lookup, peer)
--   MODE list                                  (list)
--   MODE mixed  ARG = "user:password"          (mixed)
--
-- Every target goes through request(), fixed paths included, so the client
-- spends the same work per request on every target and ratios stay fair.

local ids = 183          -- the seeded countries: ids 1..183 always exist
local pages = 19         -- ceil(183 / 10): list pages that have rows
local threads = {}
local counter = 0

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

local function b64(s)
  local chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  return ((s:gsub(".", function(x)
    local r, byte = "", x:byte()
    for i = 8, 1, -1 do r = r .. (byte % 2 ^ i - byte % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return chars:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#s % 3 + 1])
end

local mode, arg, auth
non2xx = 0

function init(args)
  mode, arg = args[1], args[2]
  math.randomseed(os.time() * 1000 + (thread_id or 0))
  if mode == "mixed" then
    auth = "Basic " .. b64(arg)
  end
end

local function lookup(prefix)
  return wrk.format("GET", prefix .. math.random(ids))
end

local function list()
  return wrk.format("GET", "/api/v1/countries?page=" .. math.random(pages) .. "&rows=10")
end

function request()
  if mode == "path" then
    return wrk.format("GET", arg)
  elseif mode == "lookup" then
    return lookup(arg)
  elseif mode == "list" then
    return list()
  end
  -- mixed: 5% authenticated writes, the rest split between lookups and lists
  local r = math.random(100)
  if r <= 5 then
    counter = counter + 1
    local body = string.format(
      '{"countryname": "bench-%d-%d-%d", "countrycode": "B%d"}',
      thread_id or 0, counter, math.random(1000000), counter)
    return wrk.format("POST", "/api/v1/countries",
      { ["Content-Type"] = "application/json", ["Authorization"] = auth }, body)
  elseif r <= 53 then
    return lookup("/api/v1/countries/")
  end
  return list()
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + (thread:get("non2xx") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, '
      .. '"p99_us": %d, "max_us": %d, "non2xx": %d, "connect": %d, "read": %d, '
      .. '"write": %d, "timeout": %d, "status": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, bad, e.connect, e.read, e.write, e.timeout,
    e.status))
end
