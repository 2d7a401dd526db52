#include <stdio.h>

int main(int argc, char **argv)
{
	(void)argv;
	puts("hello");
	return argc > 1;
}
