-- wrk script of P3 (tests/bench/p3_grants.py): client-credentials grants with client_secret_basic.
--   wrk ... -s p3_client_credentials.lua <token endpoint> -- <basic-auth> <scope>
-- The same request every time: wrk builds it once per thread (no request() or response() here, so the
-- load generator spends nothing per request on Lua).

function init(args)
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Basic " .. args[1]
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.body = "grant_type=client_credentials&scope=" .. args[2]
end
