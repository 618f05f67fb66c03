-- wrk script: GET the URL's path with a browser's headers; every other request carries its own X-Request-ID.
-- BENCH_AUTHORIZATION, when set, is sent as the Authorization header of every request.
-- Requests are formatted once in init() so the load generator spends no time building them.
local requests = {}
local index = 0

function init(args)
  local authorization = os.getenv("BENCH_AUTHORIZATION")
  for i = 1, 256 do
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
    if authorization ~= nil and authorization ~= "" then headers["Authorization"] = authorization end
    requests[i] = wrk.format("GET", wrk.path, headers)
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
