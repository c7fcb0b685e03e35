"""Run the synthesized CDK template in moto: the local sandbox and the test harness share this."""
