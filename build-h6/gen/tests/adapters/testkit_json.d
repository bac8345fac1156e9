build-h6/gen/tests/adapters/testkit_json.o: \
 build-h6/gen/tests/adapters/testkit_json.c
