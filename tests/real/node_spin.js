// A Node.js program. argv[2]:
//   spin  a setTimeout callback computes for 300 ms (a slow callback)
//   idle  one timer 2 s away and nothing else: no finding
const mode = process.argv[2];
if (mode === "spin") {
  setTimeout(() => {
    const end = Date.now() + 300;
    while (Date.now() < end) {}
  }, 10);
  setTimeout(() => console.log("node spin ok"), 400);
} else {
  setTimeout(() => console.log("node idle ok"), 2000);
}
