/* test_cli_events.c — the text side of `nimbus events` and `nimbus dlq`:
 * ages, clipped one-line cells that never cut a UTF-8 character, aligned
 * tables without trailing blanks, the event table and the one-event view
 * built from the events API's JSON, and the checks on --state and
 * --idempotency-key. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* What `fn` printed, as a malloc'd string. */
#define CAPTURE(out, call)                                                                     \
    do {                                                                                       \
        size_t cap_len_ = 0;                                                                   \
        FILE *f = open_memstream(&(out), &cap_len_);                                           \
        cr_assert_not_null(f);                                                                 \
        call;                                                                                  \
        fclose(f);                                                                             \
    } while (0)

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        if (*s == '\n') n++;
    return n;
}

static void assert_no_trailing_blanks(const char *s)
{
    for (const char *p = strchr(s, '\n'); p; p = strchr(p + 1, '\n'))
        cr_assert(p == s || p[-1] != ' ', "trailing blank before a newline in:\n%s", s);
}

Test(cli_events, age_formats)
{
    char b[32];
    cli_format_age(0, b, sizeof b);
    cr_assert_str_eq(b, "0s");
    cli_format_age(59999, b, sizeof b);
    cr_assert_str_eq(b, "59s");
    cli_format_age(60000, b, sizeof b);
    cr_assert_str_eq(b, "1m00s");
    cli_format_age(3599999, b, sizeof b);
    cr_assert_str_eq(b, "59m59s");
    cli_format_age(3600000, b, sizeof b);
    cr_assert_str_eq(b, "1h00m");
    cli_format_age(2 * 86400000LL + 3 * 3600000LL + 59 * 60000LL, b, sizeof b);
    cr_assert_str_eq(b, "2d03h");
    cli_format_age(-5000, b, sizeof b);   /* the server's clock is ahead */
    cr_assert_str_eq(b, "0s");
}

Test(cli_events, clip_keeps_one_line)
{
    char b[64];
    cli_clip("Unhandled: boom\nat line 3\tx\r", 60, b, sizeof b);
    cr_assert_str_eq(b, "Unhandled: boom at line 3 x ");
    cli_clip("short", 60, b, sizeof b);
    cr_assert_str_eq(b, "short");
    cli_clip("abcdefghij", 4, b, sizeof b);
    cr_assert_str_eq(b, "abcd...");
    cli_clip("", 4, b, sizeof b);
    cr_assert_str_eq(b, "");
}

Test(cli_events, clip_never_cuts_utf8)
{
    char b[64];
    /* "é" is two bytes: with room for 2, only "h" fits before it. */
    cli_clip("h\xc3\xa9llo", 2, b, sizeof b);
    cr_assert_str_eq(b, "h...");
    cli_clip("h\xc3\xa9llo", 3, b, sizeof b);
    cr_assert_str_eq(b, "h\xc3\xa9...");
    /* A broken sequence (lead byte, no continuation) becomes one placeholder. */
    cli_clip("a\xe2(b", 10, b, sizeof b);
    cr_assert_str_eq(b, "a?(b");
    /* Whole 4-byte characters pass. */
    cli_clip("\xf0\x9f\x98\x80!", 10, b, sizeof b);
    cr_assert_str_eq(b, "\xf0\x9f\x98\x80!");
}

Test(cli_events, clip_respects_the_buffer)
{
    char b[8];
    cli_clip("0123456789abcdef", 100, b, sizeof b);
    cr_assert_str_eq(b, "0123...");
    cr_assert_lt(strlen(b), sizeof b);
}

Test(cli_events, states_and_header_values)
{
    const char *ok[] = {"queued", "running", "retrying", "succeeded", "failed", "dead", "cancelled"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) cr_assert(cli_event_state_ok(ok[i]), "%s", ok[i]);
    cr_assert_not(cli_event_state_ok("Queued"));
    cr_assert_not(cli_event_state_ok(""));
    cr_assert_not(cli_event_state_ok("done"));

    char key[130];
    memset(key, 'k', 128);
    key[128] = '\0';
    cr_assert(cli_header_value_ok(key, 128));
    key[128] = 'k';
    key[129] = '\0';
    cr_assert_not(cli_header_value_ok(key, 128));
    cr_assert(cli_header_value_ok("order-42:v1", 128));
    cr_assert_not(cli_header_value_ok("", 128));
    cr_assert_not(cli_header_value_ok("a b", 128));
    cr_assert_not(cli_header_value_ok("a\r\nX-Evil: 1", 128));
    cr_assert_not(cli_header_value_ok("caf\xc3\xa9", 128));
}

Test(cli_events, table_aligns_without_trailing_blanks)
{
    static const char *const head[] = {"A", "LONGER", "LAST"};
    static const char *const cells[] = {"xxxx", "y", "z z", "1", "22", ""};
    char *out = NULL;
    CAPTURE(out, cli_table_print(f, head, 3, cells, 2));
    cr_assert_str_eq(out, "A     LONGER  LAST\n"
                          "xxxx  y       z z\n"
                          "1     22\n");
    free(out);
}

Test(cli_events, table_counts_utf8_as_one_column)
{
    static const char *const head[] = {"N", "X"};
    static const char *const cells[] = {"\xc3\xa9\xc3\xa9", "a", "abc", "b"};
    char *out = NULL;
    CAPTURE(out, cli_table_print(f, head, 2, cells, 2));
    cr_assert_str_eq(out, "N    X\n"
                          "\xc3\xa9\xc3\xa9   a\n"
                          "abc  b\n");
    free(out);
}

Test(cli_events, events_table_from_api_json)
{
    cJSON *ev = cJSON_Parse(
        "[{\"RequestId\":\"11111111-2222-3333-4444-555555555555\",\"State\":\"retrying\",\"Attempts\":2,"
        "\"CreatedMs\":1000000,\"LastError\":\"Unhandled: line one\\nline two\"},"
        "{\"RequestId\":\"66666666-7777-8888-9999-000000000000\",\"State\":\"queued\",\"Attempts\":0,"
        "\"CreatedMs\":1059000,\"LastError\":\"\"},"
        "{\"State\":\"dead\"}]");
    cr_assert_not_null(ev);
    char *out = NULL;
    CAPTURE(out, cli_events_table(f, ev, 1000000 + 125000, true));
    cr_assert_eq(count_lines(out), 4, "one header and one line per event:\n%s", out);
    assert_no_trailing_blanks(out);
    cr_assert(strncmp(out, "REQUEST ID", 10) == 0, "%s", out);
    cr_assert_not_null(strstr(out, "STATE"));
    cr_assert_not_null(strstr(out, "LAST ERROR"));
    cr_assert_not_null(strstr(out, "11111111-2222-3333-4444-555555555555  retrying  2         2m05s  "
                                   "Unhandled: line one line two\n"), "%s", out);
    cr_assert_not_null(strstr(out, "66666666-7777-8888-9999-000000000000  queued    0         1m06s  -\n"),
                       "%s", out);
    /* Fields the server left out are "-", not garbage. */
    cr_assert_not_null(strstr(out, "\n-                                     dead      -         -      -\n"),
                       "%s", out);
    free(out);

    CAPTURE(out, cli_events_table(f, ev, 1000000 + 125000, false));
    cr_assert_null(strstr(out, "STATE"), "the dead-letter table has no STATE column:\n%s", out);
    cr_assert_null(strstr(out, "retrying"), "%s", out);
    free(out);
    cJSON_Delete(ev);
}

Test(cli_events, empty_list_is_just_the_header)
{
    cJSON *ev = cJSON_CreateArray();
    char *out = NULL;
    CAPTURE(out, cli_events_table(f, ev, 0, true));
    cr_assert_str_eq(out, "REQUEST ID  STATE  ATTEMPTS  AGE  LAST ERROR\n");
    free(out);
    cJSON_Delete(ev);
}

Test(cli_events, one_event_with_its_attempts)
{
    cJSON *ev = cJSON_Parse(
        "{\"RequestId\":\"abc\",\"Qualifier\":\"\",\"State\":\"failed\",\"Attempts\":2,\"CreatedMs\":1000,"
        "\"NextAttemptMs\":0,\"LastError\":\"Unhandled: boom\",\"Origin\":\"invoke\","
        "\"Payload\":\"{\\\"n\\\":1}\",\"Result\":null,\"Destination\":\"dead-letter list\","
        "\"AttemptsDetail\":[{\"N\":1,\"StartMs\":1000,\"DurationMs\":12.5,\"ErrorType\":\"Unhandled\","
        "\"ErrorMessage\":\"boom\"},{\"N\":2,\"StartMs\":61000,\"DurationMs\":3,\"ErrorType\":\"\","
        "\"ErrorMessage\":\"\"}]}");
    cr_assert_not_null(ev);
    char *out = NULL;
    CAPTURE(out, cli_event_show(f, ev, 121000));
    assert_no_trailing_blanks(out);
    cr_assert_not_null(strstr(out, "RequestId    abc\n"), "%s", out);
    cr_assert_not_null(strstr(out, "Qualifier    $LATEST\n"), "%s", out);
    cr_assert_not_null(strstr(out, "State        failed\n"), "%s", out);
    cr_assert_not_null(strstr(out, "Created      1970-01-01T00:00:01.000+0000 (2m00s ago)\n"), "%s", out);
    cr_assert_null(strstr(out, "NextAttempt"), "a finished event has no next attempt:\n%s", out);
    cr_assert_not_null(strstr(out, "Payload      {\"n\":1}\n"), "%s", out);
    cr_assert_null(strstr(out, "Result"), "a null result is left out:\n%s", out);
    cr_assert_not_null(strstr(out, "Destination  dead-letter list\n"), "%s", out);
    cr_assert_not_null(strstr(out, "ATTEMPT  STARTED                       DURATION  ERROR\n"), "%s", out);
    cr_assert_not_null(strstr(out, "1        1970-01-01T00:00:01.000+0000  12.50 ms  Unhandled: boom\n"), "%s",
                       out);
    cr_assert_not_null(strstr(out, "2        1970-01-01T00:01:01.000+0000  3.00 ms   -\n"), "%s", out);
    free(out);
    cJSON_Delete(ev);
}

Test(cli_events, retrying_event_says_when_next)
{
    cJSON *ev = cJSON_Parse("{\"RequestId\":\"r\",\"State\":\"retrying\",\"Attempts\":1,\"CreatedMs\":0,"
                            "\"NextAttemptMs\":90000}");
    char *out = NULL;
    CAPTURE(out, cli_event_show(f, ev, 30000));
    cr_assert_not_null(strstr(out, "NextAttempt  1970-01-01T00:01:30.000+0000 (in 1m00s)\n"), "%s", out);
    cr_assert_null(strstr(out, "ATTEMPT "), "no attempts detail, no table:\n%s", out);
    free(out);
    cJSON_Delete(ev);
}

Test(cli_events, long_payload_is_clipped_with_its_size)
{
    char *big = malloc(5001);
    memset(big, 'p', 5000);
    big[5000] = '\0';
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "RequestId", "r");
    cJSON_AddStringToObject(ev, "Payload", big);
    char *out = NULL;
    CAPTURE(out, cli_event_show(f, ev, 0));
    cr_assert_not_null(strstr(out, "... (5000 bytes; --json shows all)\n"), "%s", out);
    cr_assert_lt(strlen(out), 1200);
    free(out);
    free(big);
    cJSON_Delete(ev);
}
