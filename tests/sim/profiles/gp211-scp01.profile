# A GlobalPlatform 2.1.1 card speaking SCP01 (i=05) with the GlobalPlatform test keys, as the
# cards of tests/vectors/scp01-transcripts-e.txt (kaoh/globalplatform's scp01Test.c): no R-MAC,
# levels 01 and 03, and its key diversification data 0000302300000055FF00.
scp = 01
key_div = 0000302300000055FF00
