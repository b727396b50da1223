/* placeholder until the CLI lands */
int opra_client_placeholder(void);
int opra_client_placeholder(void)
{
	return 0;
}
