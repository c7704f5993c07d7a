-- batchgen's shared request budget (`--shared-budget`): one GCRA, one pause and, with
-- `--rate auto`, one AIMD controller for every worker of an API key, all on the server's clock.
--
-- KEYS[1]  the budget's hash (batchgen:budget:<16 hex of SHA-256 of the account>)
-- ARGV[1]  the operation: take | pause | cut
-- ARGV[2]  how long to keep the state after its last use (ms)
--
-- take  ARGV[3] "fixed" | "auto"
--       fixed: ARGV[4] period (us), ARGV[5] lag allowed behind now (us)
--       auto:  ARGV[4..] the controller's constants (see AUTO below)
--       -> {1, 0, rate} granted; {0, wait_us, rate} not yet (a pause or the GCRA)
-- pause ARGV[3] how long (us) from now no cell is granted (a later pause is kept)
--       -> {1, pause_left_us, ""}
-- cut   ARGV[3] "auto", ARGV[4..] the constants: a 429 cuts the shared rate (once per burst)
--       -> {1 cut | 0 held, 0, rate}
--
-- Fields of the hash: tat (the GCRA's theoretical arrival time, us), pause (us), and for auto:
-- rate (req/s), ceiling (req/s, -1 for none), step_start (us), step_grants, last_cut (us, -1),
-- cuts. Times are integers in microseconds of the server's clock (TIME).

if redis.replicate_commands then
  pcall(redis.replicate_commands)
end

local key = KEYS[1]
local op = ARGV[1]
local ttl = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

local function int(x)
  return string.format('%.0f', x)
end

local function get(field, default)
  local v = redis.call('HGET', key, field)
  if v then
    return tonumber(v)
  end
  return default
end

-- The controller's constants, in the order adaptive.rs passes them.
local function auto_constants(i)
  return {
    start = tonumber(ARGV[i]),
    min = tonumber(ARGV[i + 1]),
    max = tonumber(ARGV[i + 2]),
    step = tonumber(ARGV[i + 3]),
    busy = tonumber(ARGV[i + 4]),
    slow_start = tonumber(ARGV[i + 5]),
    safe = tonumber(ARGV[i + 6]),
    probe = tonumber(ARGV[i + 7]),
    forget = tonumber(ARGV[i + 8]),
    hold = tonumber(ARGV[i + 9]),
    backoff = tonumber(ARGV[i + 10]),
    first_backoff = tonumber(ARGV[i + 11]),
  }
end

local function load_auto(c)
  return {
    rate = get('rate', math.min(c.start, c.max)),
    ceiling = get('ceiling', -1),
    step_start = get('step_start', now),
    step_grants = get('step_grants', 0),
    last_cut = get('last_cut', -1),
    cuts = get('cuts', 0),
  }
end

local function save_auto(s)
  redis.call('HSET', key, 'rate', tostring(s.rate), 'ceiling', tostring(s.ceiling),
    'step_start', int(s.step_start), 'step_grants', int(s.step_grants),
    'last_cut', int(s.last_cut), 'cuts', int(s.cuts))
end

-- Aimd::rate: once a step has passed, raise the rate if the workers used most of it.
local function step(s, c)
  local elapsed = now - s.step_start
  if elapsed >= c.step then
    local used = s.step_grants / (elapsed / 1000000)
    if used >= c.busy * s.rate then
      local nxt
      if s.ceiling < 0 then
        nxt = s.rate * c.slow_start
      elseif s.rate < c.safe * s.ceiling then
        nxt = s.rate + math.max(c.safe * s.ceiling - s.rate, 0) * 0.5 + 0.1
      else
        nxt = s.rate * (1 + c.probe) + 0.05
        if nxt > c.forget * s.ceiling then
          -- Probes pass well above the old ceiling: the limit rose.
          s.ceiling = -1
        end
      end
      s.rate = math.min(nxt, c.max)
    end
    s.step_start = now
    s.step_grants = 0
  end
  -- A worker with a lower --max-rate holds everyone to it.
  s.rate = math.min(s.rate, c.max)
end

if op == 'pause' then
  local pause = math.max(get('pause', 0), now + tonumber(ARGV[3]))
  redis.call('HSET', key, 'pause', int(pause))
  redis.call('PEXPIRE', key, math.max(ttl, math.ceil((pause - now) / 1000) + 1000))
  return {1, pause - now, ''}
end

if op == 'cut' then
  local c = auto_constants(4)
  local s = load_auto(c)
  if s.last_cut >= 0 and now - s.last_cut < c.hold then
    return {0, 0, tostring(s.rate)}
  end
  local factor = c.backoff
  if s.ceiling < 0 then
    factor = c.first_backoff
  end
  s.ceiling = s.rate
  s.rate = math.max(s.rate * factor, c.min)
  s.last_cut = now
  s.cuts = s.cuts + 1
  s.step_start = now
  s.step_grants = 0
  save_auto(s)
  redis.call('PEXPIRE', key, ttl)
  return {1, 0, tostring(s.rate)}
end

if op ~= 'take' then
  return redis.error_reply('batchgen budget: unknown operation ' .. tostring(op))
end

local mode = ARGV[3]
local period, lag, s, rate
if mode == 'auto' then
  local c = auto_constants(4)
  s = load_auto(c)
  step(s, c)
  rate = s.rate
  period = math.floor(1000000 / math.max(rate, c.min))
  lag = period
else
  period = tonumber(ARGV[4])
  lag = tonumber(ARGV[5])
  rate = 1000000 / period
end

local pause = get('pause', 0)
if pause > now then
  if s then
    save_auto(s)
  end
  return {0, pause - now, tostring(rate)}
end

-- GCRA with a burst of one: a cell is due at tat; tat may lag now by at most `lag`, so a
-- late asker does not lose budget, and an idle spell does not bank a burst.
local tat = math.max(get('tat', 0), now - lag)
if tat > now then
  if s then
    save_auto(s)
  end
  redis.call('PEXPIRE', key, ttl)
  return {0, tat - now, tostring(rate)}
end
tat = tat + period
redis.call('HSET', key, 'tat', int(tat))
if s then
  s.step_grants = s.step_grants + 1
  save_auto(s)
end
redis.call('PEXPIRE', key, ttl)
return {1, 0, tostring(rate)}
