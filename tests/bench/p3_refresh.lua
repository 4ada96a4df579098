-- wrk script of P3 (tests/bench/p3_grants.py): refresh grants with client_secret_basic, each a valid rotation.
--   wrk -t<threads> ... -s p3_refresh.lua <token endpoint> -- <basic-auth> <tokens-file> <threads>
--
-- Every refresh token is used once. wrk runs one Lua state per thread, not per connection, so each thread
-- keeps a queue of the refresh tokens it holds (its share of the file, one line each, at least as many as
-- its connections): request() takes the oldest, response() puts back the new one the answer carries. wrk
-- calls a connection's response() before that connection's next request(), so the queue never runs dry
-- while every answer brings a token; if one does not, the request after goes out with a token that cannot
-- work and shows as an error. done() prints the counts p3_grants.py checks.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local queue, first, last = {}, 1, 0
missing, empty = 0, 0

local function put(token)
  last = last + 1
  queue[last] = token
end

local function take()
  if first > last then
    return nil
  end
  local token = queue[first]
  queue[first] = nil
  first = first + 1
  return token
end

local function encode(value)
  return (value:gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Basic " .. args[1]
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  local share, line = tonumber(args[3]), 0
  for token in io.lines(args[2]) do
    if line % share == index then
      put(token)
    end
    line = line + 1
  end
end

function request()
  local token = take()
  if token == nil then
    empty = empty + 1
    token = "exhausted"
  end
  return wrk.format(nil, nil, nil, "grant_type=refresh_token&refresh_token=" .. encode(token))
end

function response(status, headers, body)
  if status == 200 then
    local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
    if token then
      put(token)
    else
      missing = missing + 1
    end
  end
end

function done(summary, latency, requests)
  local total_missing, total_empty = 0, 0
  for _, thread in ipairs(threads) do
    total_missing = total_missing + thread:get("missing")
    total_empty = total_empty + thread:get("empty")
  end
  io.write(string.format("p3: answers without refresh_token %d, requests without a token %d\n",
    total_missing, total_empty))
end
