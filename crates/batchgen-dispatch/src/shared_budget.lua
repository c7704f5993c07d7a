-- batchgen's shared request budget (`--shared-budget`): one GCRA, one pause and, with
-- `--rate auto`, one adaptive controller for every worker of an API key, all on the server's
-- clock.
--
-- KEYS[1]  the budget's hash (batchgen:budget:<16 hex of SHA-256 of the account>)
-- ARGV[1]  the operation: take | pause | cut
-- ARGV[2]  how long to keep the state after its last use (ms)
-- ARGV[3]  the clock: empty for the server's own (TIME; every worker's call), or microseconds
--          of a clock of the caller's (the tests, which drive the controller on a fake clock)
--
-- take  ARGV[4] "fixed" | "auto"
--       fixed: ARGV[5] period (us), ARGV[6] lag allowed behind now (us)
--       auto:  ARGV[5..] the controller's constants (`auto_constants` below)
--       -> {1, 0, rate} granted; {0, wait_us, rate} not yet (a pause or the GCRA)
-- pause ARGV[4] how long (us) from now no cell is granted (a later pause is kept)
--       -> {1, pause_left_us, ""}
-- cut   ARGV[4] "auto", ARGV[5..] the constants: a 429 came back
--       -> {1, 0, rate} it cut the rate; {0, 0, rate} a hold after a cut counted it
--
-- Fields of the hash: tat (the GCRA's theoretical arrival time, us), pause (us), and for auto
-- the controller's state: rate and ceiling (req/s, ceiling -1 for none), round_start (us),
-- round_grants, probe_growth, hold_start (us, -1 for no hold), hold_grants, hold_refused,
-- cuts. Times are integers in microseconds of the clock.

if redis.replicate_commands then
  pcall(redis.replicate_commands)
end

local key = KEYS[1]
local op = ARGV[1]
local ttl = tonumber(ARGV[2])
local now
if ARGV[3] ~= '' then
  now = tonumber(ARGV[3])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local function int(x)
  return string.format('%.0f', x)
end

-- A rate as the caller reads it back: every digit, so it parses to the same number.
local function num(x)
  return string.format('%.17g', x)
end

local function get(field, default)
  local v = redis.call('HGET', key, field)
  if v then
    return tonumber(v)
  end
  return default
end

-- The controller's constants, in the order `adaptive::constants` lists them.
local function auto_constants(i)
  local names = {'start', 'min', 'max', 'round', 'round_grants', 'probe_round_grants', 'hold',
    'slow_start', 'slow_start_backoff', 'hard_backoff', 'backoff', 'fell_below', 'safe',
    'measured_ceiling', 'under_measured', 'measure_after', 'measure_after_refusals',
    'measured_below', 'probe', 'rose_above', 'max_probe', 'busy'}
  local c = {}
  for k, name in ipairs(names) do
    c[name] = tonumber(ARGV[i + k - 1])
  end
  return c
end

-- The controller's state, read in one call (every take and cut reads all of it).
local function load_auto(c)
  local v = redis.call('HMGET', key, 'rate', 'ceiling', 'round_start', 'round_grants',
    'probe_growth', 'hold_start', 'hold_grants', 'hold_refused', 'cuts')
  local function at(i, default)
    if v[i] then
      return tonumber(v[i])
    end
    return default
  end
  return {
    rate = at(1, math.min(c.start, c.max)),
    ceiling = at(2, -1),
    round_start = at(3, now),
    round_grants = at(4, 0),
    probe_growth = at(5, 0),
    hold_start = at(6, -1),
    hold_grants = at(7, 0),
    hold_refused = at(8, 0),
    cuts = at(9, 0),
  }
end

local function save_auto(s)
  redis.call('HSET', key, 'rate', num(s.rate),
    'ceiling', num(s.ceiling), 'round_start', int(s.round_start),
    'round_grants', int(s.round_grants), 'probe_growth', num(s.probe_growth),
    'hold_start', int(s.hold_start), 'hold_grants', int(s.hold_grants),
    'hold_refused', int(s.hold_refused), 'cuts', int(s.cuts))
end

-- What follows is `adaptive::Aimd`, step for step (its doc says why each step): the same
-- constants, the same rounds, holds and measured limit, on the server's clock and for every
-- worker's grants and 429s together. `shared_budget/tests.rs` drives both on one clock and
-- checks that they agree.

local function start_round(s)
  s.round_start = now
  s.round_grants = 0
end

local function start_hold(s)
  s.hold_start = now
  s.hold_grants = 0
  s.hold_refused = 0
end

-- Aimd::end_hold
local function end_hold(s, c)
  if s.hold_start < 0 then
    return
  end
  local elapsed = now - s.hold_start
  if elapsed >= c.measure_after and s.hold_refused >= c.measure_after_refusals then
    local passed = math.max(s.hold_grants - s.hold_refused, 0)
    local measured = math.max(passed / (elapsed / 1000000), c.hard_backoff * s.rate)
    if measured < c.measured_below * s.rate then
      s.ceiling = c.measured_ceiling * measured
      s.rate = math.min(math.max(c.under_measured * measured, c.min), c.max)
      start_hold(s)
      start_round(s)
      return
    end
  end
  if elapsed < c.hold then
    return
  end
  s.hold_start = -1
  s.hold_grants = 0
  s.hold_refused = 0
  s.probe_growth = 0
  start_round(s)
end

-- Aimd::raise
local function raise(s, c, probing)
  local nxt
  if s.ceiling < 0 then
    nxt = s.rate * c.slow_start
  elseif not probing then
    s.probe_growth = 0
    nxt = math.min(s.rate + (c.safe * s.ceiling - s.rate) * 0.5 + 0.01 * s.ceiling,
      c.safe * s.ceiling)
  else
    if s.rate > c.rose_above * s.ceiling then
      s.probe_growth = math.max(s.probe_growth * 2, c.probe)
    else
      s.probe_growth = c.probe
    end
    nxt = s.rate * (1 + math.min(s.probe_growth, c.max_probe))
  end
  s.rate = math.min(nxt, c.max)
end

-- Aimd::rate
local function step(s, c)
  end_hold(s, c)
  if s.hold_start < 0 then
    local elapsed = now - s.round_start
    local probing = s.ceiling >= 0 and s.rate >= c.safe * s.ceiling
    local near = probing and s.rate <= c.rose_above * s.ceiling
    local needed = c.round_grants
    if near then
      needed = c.probe_round_grants
    end
    local expected = math.max(c.round, needed / s.rate * 1000000)
    if elapsed >= c.round and s.round_grants >= needed then
      local used = s.round_grants / (elapsed / 1000000)
      if used >= c.busy * s.rate then
        raise(s, c, probing)
      end
      start_round(s)
    elseif elapsed >= expected * 4 then
      start_round(s)
    end
  end
  -- A worker with a lower --max-rate holds everyone to it.
  s.rate = math.min(s.rate, c.max)
end

-- Aimd::granted
local function granted(s)
  s.round_grants = s.round_grants + 1
  if s.hold_start >= 0 then
    s.hold_grants = s.hold_grants + 1
  end
end

-- Aimd::rate_limited: true if it cut the rate, false if a hold counted the 429.
local function rate_limited(s, c)
  end_hold(s, c)
  if s.hold_start >= 0 then
    s.hold_refused = s.hold_refused + 1
    return false
  end
  local factor = c.slow_start_backoff
  if s.ceiling >= 0 then
    if s.rate >= c.fell_below * s.ceiling then
      factor = c.backoff
    else
      factor = c.hard_backoff
    end
  end
  s.ceiling = s.rate
  s.rate = math.max(s.rate * factor, c.min)
  s.probe_growth = 0
  start_hold(s)
  s.cuts = s.cuts + 1
  start_round(s)
  return true
end

if op == 'pause' then
  local pause = math.max(get('pause', 0), now + tonumber(ARGV[4]))
  redis.call('HSET', key, 'pause', int(pause))
  redis.call('PEXPIRE', key, math.max(ttl, math.ceil((pause - now) / 1000) + 1000))
  return {1, pause - now, ''}
end

if op == 'cut' then
  local c = auto_constants(5)
  local s = load_auto(c)
  local cut = rate_limited(s, c)
  save_auto(s)
  redis.call('PEXPIRE', key, ttl)
  if cut then
    return {1, 0, num(s.rate)}
  end
  return {0, 0, num(s.rate)}
end

if op ~= 'take' then
  return redis.error_reply('batchgen budget: unknown operation ' .. tostring(op))
end

local mode = ARGV[4]
local period, lag, s, rate
if mode == 'auto' then
  local c = auto_constants(5)
  s = load_auto(c)
  step(s, c)
  rate = s.rate
  period = math.floor(1000000 / math.max(rate, c.min))
  lag = period
else
  period = tonumber(ARGV[5])
  lag = tonumber(ARGV[6])
  rate = 1000000 / period
end

local pause = get('pause', 0)
if pause > now then
  if s then
    save_auto(s)
  end
  return {0, pause - now, num(rate)}
end

-- GCRA with a burst of one: a cell is due at tat; tat may lag now by at most `lag`, so a
-- late asker does not lose budget, and an idle spell does not bank a burst.
local tat = math.max(get('tat', 0), now - lag)
if tat > now then
  if s then
    save_auto(s)
  end
  redis.call('PEXPIRE', key, ttl)
  return {0, tat - now, num(rate)}
end
tat = tat + period
redis.call('HSET', key, 'tat', int(tat))
if s then
  granted(s)
  save_auto(s)
end
redis.call('PEXPIRE', key, ttl)
return {1, 0, num(rate)}
