build-h6/tests/unit/test_session.o: tests/unit/test_session.c \
 tests/unit/../../common/util.h tests/unit/../../gateway/session.h
tests/unit/../../common/util.h:
tests/unit/../../gateway/session.h:
