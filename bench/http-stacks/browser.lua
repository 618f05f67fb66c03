-- wrk script: GET the URL's path with a browser's headers; every other request carries its own X-Request-ID.
-- BENCH_AUTHORIZATION_FILE, when set, holds Authorization header values one a line, sent in turn.
-- BENCH_DELAY_MS, when set, makes each connection wait that long before its next request (a bounded rate).
-- Requests are formatted once in init() so the load generator spends no time building them.
local requests = {}
local index = 0
local delayMs = tonumber(os.getenv("BENCH_DELAY_MS") or "")

function init(args)
  local authorizations = {}
  local file = os.getenv("BENCH_AUTHORIZATION_FILE")
  if file ~= nil and file ~= "" then
    for line in io.lines(file) do
      if line ~= "" then authorizations[#authorizations + 1] = line end
    end
  end
  for i = 1, math.max(256, #authorizations) do
    local headers = {
      ["Accept"] = "application/json",
      ["Accept-Language"] = "en-GB,en;q=0.9",
      ["Origin"] = "https://app.example.com",
      ["Referer"] = "https://app.example.com/",
      ["Sec-Fetch-Mode"] = "cors",
      ["Sec-Fetch-Site"] = "same-site",
      ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    }
    if i % 2 == 0 then headers["X-Request-ID"] = string.format("web-%04d-%08x", i, i * 2654435761 % 4294967296) end
    if #authorizations > 0 then headers["Authorization"] = authorizations[(i - 1) % #authorizations + 1] end
    requests[i] = wrk.format("GET", wrk.path, headers)
  end
end

if delayMs ~= nil then
  function delay()
    return delayMs
  end
end

function request()
  index = index % #requests + 1
  return requests[index]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"durationUs":%d,"p50Us":%d,"p99Us":%d,"connectErrors":%d,"readErrors":%d,"writeErrors":%d,"timeouts":%d,"non2xx":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.timeout, e.status))
end
