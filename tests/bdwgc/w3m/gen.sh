#!/bin/sh
# A large page (nested tables, many rows): w3m allocates heavily on it.
echo "<html><body><h1>Large page</h1>"
i=0
while [ $i -lt 60 ]; do
  echo "<h2>Section $i</h2><table border=1><tr><th>n</th><th>square</th><th>text</th></tr>"
  j=0
  while [ $j -lt 40 ]; do
    echo "<tr><td>$j</td><td>$((j*j))</td><td>row $j of section $i <table><tr><td>inner $i.$j</td><td><b>x</b></td></tr></table></td></tr>"
    j=$((j+1))
  done
  echo "</table><p>Paragraph after section $i with some words to wrap around the screen width of eighty columns as w3m formats it.</p>"
  i=$((i+1))
done
echo "</body></html>"
