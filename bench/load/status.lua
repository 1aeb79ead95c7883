-- wrk script: counts responses by status (printed as "status CODE[/KIND] N"
-- lines by done()), and, when WRK_BODY is set in the environment, POSTs
-- that JSON body (the invoke runs).
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  counts = {}
  local body = os.getenv("WRK_BODY")
  if body and body ~= "" then
    wrk.method = "POST"
    wrk.body = body
    wrk.headers["Content-Type"] = "application/json"
  end
end

-- Errors are counted by status and error kind ("429/rate_limited").
function response(status, headers, body)
  local key = tostring(status)
  if status >= 400 and body then
    local kind = string.match(body, '"kind":"([%w_]+)"')
    if kind then key = key .. "/" .. kind end
  end
  counts[key] = (counts[key] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("counts")) do
      total[code] = (total[code] or 0) + n
    end
  end
  for code, n in pairs(total) do
    io.write(string.format("status %s %d\n", code, n))
  end
  io.write(string.format("p50_us %d\np99_us %d\n", latency:percentile(50), latency:percentile(99)))
  io.write(string.format("rps %.1f\n", summary.requests / (summary.duration / 1e6)))
end
