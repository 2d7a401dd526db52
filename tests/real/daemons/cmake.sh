# cmake configures, builds and ctest runs a two-test project (libuv's
# uv_spawn and pipes for every child). Paths are printed relative to the
# work directory; ctest's timings and the order in which its two jobs
# finish are left out. A make above us (`make test`) must not reach the
# project's build: its MAKEFLAGS would make gmake name its directories.
. "$(dirname "$0")/lib.sh"
unset MAKEFLAGS MFLAGS MAKELEVEL
mkdir src
cp "$HERE/cmake/CMakeLists.txt" "$HERE/cmake/hello.c" src/
{
	$W cmake -S src -B b; echo "cmake: $?"
	$W cmake --build b; echo "build: $?"
	$W ctest --test-dir b -j2; echo "ctest: $?"
} 2>cmake.err | sed -e "s|$PWD|D|g" -e 's/ *[0-9.]* sec$//' -e 's|^[0-9]*/[0-9]* Test|Test|' -e '/^Total Test time/d' | sort
echo "exit: 0"
