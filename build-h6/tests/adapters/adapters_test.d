build-h6/tests/adapters/adapters_test.o: tests/adapters/adapters_test.c \
 tests/adapters/../../gateway/adapters.h \
 tests/adapters/../../gateway/../common/adapter.h \
 tests/adapters/../../gateway/../common/err.h \
 tests/adapters/../../gateway/../common/mcp.h \
 tests/adapters/../../gateway/registry.h \
 tests/adapters/../../gateway/../common/err.h \
 tests/adapters/../../gateway/../common/schema.h tests/adapters/testkit.h \
 tests/adapters/../../common/adapter.h
tests/adapters/../../gateway/adapters.h:
tests/adapters/../../gateway/../common/adapter.h:
tests/adapters/../../gateway/../common/err.h:
tests/adapters/../../gateway/../common/mcp.h:
tests/adapters/../../gateway/registry.h:
tests/adapters/../../gateway/../common/err.h:
tests/adapters/../../gateway/../common/schema.h:
tests/adapters/testkit.h:
tests/adapters/../../common/adapter.h:
