-- Run by tests/real/test_real_programs.c as
--   nvim --headless --clean -c 'luafile tests/real/probe.lua'
-- with and without the loopsan shim: a repeating libuv timer (5 ms x 20),
-- vim.fn.system() (uv_spawn + pipes), an async uv_fs_stat, then :qa!.
-- Every message is fixed text, so the output does not depend on timing.
local uv = vim.loop
local ticks = 0
local timer_done, stat_done = false, false

local timer = uv.new_timer()
timer:start(5, 5, function()
  ticks = ticks + 1
  if ticks == 20 then
    timer:stop()
    timer:close()
    timer_done = true
  end
end)

local out = vim.fn.system({ 'echo', 'x' })
io.stdout:write('system: ' .. vim.trim(out) .. ' status ' .. vim.v.shell_error .. '\n')

local this = debug.getinfo(1, 'S').source:sub(2)
uv.fs_stat(this, function(err, st)
  io.stdout:write('fs_stat: ' .. (err and ('error ' .. err) or st.type) .. '\n')
  stat_done = true
end)

local ok = vim.wait(5000, function() return timer_done and stat_done end, 5)
io.stdout:write('timer ticks: ' .. ticks .. (ok and '' or ' (timed out)') .. '\n')
io.stdout:write('nvim ok\n')
print('probe: a message')  -- headless nvim writes messages on stderr
io.stdout:flush()
vim.cmd('qa!')
