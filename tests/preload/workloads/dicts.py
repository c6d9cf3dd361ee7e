# Builds and drops large dicts and lists on several threads; prints
# checksums that depend on every element.
import threading

def work(seed, out):
    total = 0
    for rnd in range(6):
        d = {("k%d" % i, i % 7): [i, str(i * seed), {"x": i}] for i in range(20000)}
        lst = [list(range(i % 50)) for i in range(8000)]
        total += sum(v[0] for v in d.values()) + sum(len(x) for x in lst)
        total += len("".join(v[1] for v in d.values())) % 1000003
        del d, lst
    out[seed] = total

results = {}
threads = [threading.Thread(target=work, args=(s, results)) for s in range(1, 5)]
for t in threads:
    t.start()
for t in threads:
    t.join()
for k in sorted(results):
    print(k, results[k])
big = [str(i) * 3 for i in range(200000)]
print(len(big), sum(map(len, big)))
