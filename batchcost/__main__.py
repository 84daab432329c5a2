from batchcost.cli.app import run

run()
