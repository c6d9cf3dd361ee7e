# Arrays, associative arrays, loops, string operations, subshells.
declare -A seen
arr=()
for ((i = 0; i < 3000; i++)); do
  w="w$(( (i * 7919) % 1013 ))"
  arr+=("$w")
  seen[$w]=$(( ${seen[$w]:-0} + 1 ))
done
echo "${#arr[@]} ${#seen[@]}"
s=""
for w in "${arr[@]:0:500}"; do s+="${w^^}-"; done
echo "${#s} ${s:0:40}"
echo "$(printf '%s\n' "${!seen[@]}" | sort | head -3 | tr '\n' ' ')"
x=$( (for i in 1 2 3; do echo $((i * i)); done) | awk '{s += $1} END {print s}')
echo "$x"
