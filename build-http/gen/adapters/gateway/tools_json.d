build-http/gen/adapters/gateway/tools_json.o: \
 build-http/gen/adapters/gateway/tools_json.c
