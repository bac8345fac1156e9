build-http/gen/tests/adapters/testkit_json.o: \
 build-http/gen/tests/adapters/testkit_json.c
