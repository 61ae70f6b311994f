-- lua workload: tables, strings and closures churning; prints a checksum.
local n = tonumber(arg and arg[1]) or 300000
local t = {}
for i = 1, n do
  t[i] = { id = i, name = "item" .. i, tags = { i % 3, i % 5, i % 7 } }
end
local words = {}
for i = 1, n do
  local r = t[i]
  words[#words + 1] = r.name .. ":" .. (r.tags[1] + r.tags[2] + r.tags[3])
end
local s = table.concat(words, ",")
local count = 0
for w in string.gmatch(s, "[^,]+") do count = count + #w end
local groups = {}
for i = 1, n do
  local g = t[i].id % 101
  groups[g] = (groups[g] or 0) + #t[i].name
end
local total = 0
for _, v in pairs(groups) do total = total + v end
print("checksum", count, total)
